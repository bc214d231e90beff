"""Launch buttons (Colab, Binder) and what Binder's repo2docker reads.

The repository's address has one home, ``[project.urls] Repository`` in pyproject.toml;
``python -m vae_tutorial.launch notebooks/*.ipynb`` writes the badges and the Colab set-up cell
from it, and running it again changes nothing.
"""

from __future__ import annotations

import json
import re
import sys
import types

import nbformat
import pytest
from conftest import ROOT
from test_environment import environment_pip_section, requirements

from vae_tutorial import launch

LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_address_has_one_home():
    url = launch.repository_url()
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url)
    text = (ROOT / "pyproject.toml").read_text()
    assert f'Repository = "{url}"' in text
    links = launch.launch_links("notebooks/02_the_elbo.ipynb")
    owner_repo = url.removeprefix("https://github.com/")
    assert links["colab"].endswith(f"/github/{owner_repo}/blob/main/notebooks/02_the_elbo.ipynb")
    binder = f"/v2/gh/{owner_repo}/main?labpath=notebooks%2F02_the_elbo.ipynb"
    assert links["binder"].endswith(binder)
    # No other file spells the address out: it is read from pyproject.toml everywhere.
    for path in [*ROOT.glob("vae_tutorial/*.py"), *ROOT.glob("site/*.py"), ROOT / "README.md"]:
        assert owner_repo not in path.read_text(), f"{path.name} repeats the repository address"


def test_inserting_twice_changes_nothing_and_keeps_a_clean_run(tmp_path):
    lesson = LESSONS[0]
    path = tmp_path / "notebooks" / lesson.name
    path.parent.mkdir()
    # the lesson as it was before it had launch cells
    before = nbformat.read(lesson, as_version=4)
    launch_tags = {launch.BADGES_TAG, launch.SETUP_TAG}
    before.cells = [c for c in before.cells if not launch_tags & set(c.metadata.get("tags", []))]
    code = [c for c in before.cells if c.cell_type == "code"]
    for count, cell in enumerate(code, start=1):
        cell.execution_count = count
    nbformat.write(before, path)
    assert launch.update_notebook(path, root=tmp_path)
    once = path.read_text()
    assert not launch.update_notebook(path, root=tmp_path)
    assert path.read_text() == once
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and launch.BADGES_TAG in nb.cells[0].metadata.tags
    assert nb.cells[1].cell_type == "code" and launch.SETUP_TAG in nb.cells[1].metadata.tags
    assert nb.cells[2:] != [] and len(nb.cells) == len(before.cells) + 2
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), "the lesson no longer reads as one clean run"
    # A changed address is refreshed in place, not added a second time.
    launch.add_launch_cells(nb, "notebooks/x.ipynb", url="https://github.com/someone/else")
    assert len(nb.cells) == len(before.cells) + 2
    assert "someone/else" in nb.cells[0].source and "someone/else" in nb.cells[1].source


def _run_setup_cell(monkeypatch, on_colab: bool) -> dict:
    calls = {"pip": [], "widgets": 0}
    monkeypatch.setattr("subprocess.check_call", lambda args: calls["pip"].append(args))
    if on_colab:
        output = types.SimpleNamespace(
            enable_custom_widget_manager=lambda: calls.__setitem__("widgets", 1)
        )
        colab = types.ModuleType("google.colab")
        colab.output = output
        monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
        monkeypatch.setitem(sys.modules, "google.colab", colab)
    exec(compile(launch.setup_source(), "setup-cell", "exec"), {})
    return calls


def test_setup_cell_does_nothing_locally(monkeypatch):
    assert _run_setup_cell(monkeypatch, on_colab=False) == {"pip": [], "widgets": 0}


def test_setup_cell_on_colab_installs_the_package_and_turns_on_widgets(monkeypatch):
    calls = _run_setup_cell(monkeypatch, on_colab=True)
    assert calls["widgets"] == 1
    (args,) = calls["pip"]
    assert args[1:4] == ["-m", "pip", "install"]
    assert args[-1] == f"vae_tutorial @ git+{launch.repository_url()}@main"


def test_every_lesson_has_launch_cells_for_this_repository():
    marked = [p for p in LESSONS if launch.BADGES_TAG in p.read_text()]
    if not marked:
        pytest.skip("no launch cells yet: run python -m vae_tutorial.launch notebooks/*.ipynb")
    for path in LESSONS:
        nb = nbformat.read(path, as_version=4)
        where = path.relative_to(ROOT).as_posix()
        assert nb.cells[0].source == launch.badges_source(where), f"{path.name}: badges"
        assert nb.cells[1].source == launch.setup_source(), f"{path.name}: set-up cell"
        assert nb.cells[1].outputs == [], f"{path.name}: the set-up cell printed something"


def test_what_repo2docker_reads():
    """Binder builds from environment.yml at the root, as it is.

    repo2docker looks first in binder/ or .binder/ and obeys a Dockerfile over everything: none
    may exist. It takes Python's version from an exact ``python=X.Y``. A local reference
    (``-e .``) in the pip section makes it install the pip packages after copying the repository.
    """
    for other in ("binder", ".binder", "Dockerfile", "runtime.txt", "postBuild", "apt.txt"):
        assert not (ROOT / other).exists(), f"{other} would change what Binder builds"
    import yaml

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "conda-forge" in env["channels"]
    pythons = [d for d in deps if isinstance(d, str) and d.startswith("python")]
    assert len(pythons) == 1 and re.fullmatch(r"python=3\.\d+", pythons[0]), pythons
    assert "pip" in deps
    (pip_section,) = [d["pip"] for d in deps if isinstance(d, dict)]
    assert "-e ." in pip_section
    env_pins, _ = environment_pip_section()
    req_pins, _ = requirements()
    assert env_pins == req_pins
    assert {"jupyterlab", "ipywidgets", "torch"} <= set(env_pins)
    json.dumps(env)  # plain data, nothing YAML-specific
