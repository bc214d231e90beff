"""Correctness of the benchmark code (no timing assertions: the benchmarks measure speed).

The baselines must compute what the package computes: the sample-by-sample importance sampler
gives the package's estimates for the same seed, the pytorch/examples-style model is the same
network and the same ELBO, and the FLOP count agrees with torch's own FLOP counter.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import benchlib  # noqa: E402
import lesson_times  # noqa: E402
import quality_for_time  # noqa: E402
import reference  # noqa: E402
import render  # noqa: E402

from vae_tutorial.likelihood import log_marginal_likelihood  # noqa: E402
from vae_tutorial.models import VAE  # noqa: E402
from vae_tutorial.objectives import elbo  # noqa: E402


def binary_images(n: int, seed: int = 0) -> torch.Tensor:
    """(n, 784) in {0, 1}: blurry random blobs, enough to give a model something to score."""
    generator = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.rand(n, 784, generator=generator) * 0.6, generator=generator)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Loops of tiny tensor operations run far faster on one thread when the CPU is shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def vae():
    # Small, so the sample-by-sample loop stays fast; the arithmetic is that of the 784-400-20.
    torch.manual_seed(0)
    return VAE(latent_dim=4, hidden_dim=64).eval()


def test_sample_by_sample_loop_gives_the_package_estimates(vae):
    x = binary_images(12)
    # The package draws 250 samples in chunks of 100, 100, 50 for 4 images at a time; the loop
    # draws one sample at a time for the same 4 images.
    package = log_marginal_likelihood(vae, x, 250, batch_size=100, images_per_batch=4, seed=3)
    log_px, stderr = reference.log_px_sample_by_sample(vae, x, 250, images_per_batch=4, seed=3)
    torch.testing.assert_close(log_px, package.log_px, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(stderr, package.stderr, rtol=1e-3, atol=1e-4)


def test_sample_by_sample_loop_differs_with_another_seed(vae):
    # The agreement above is not automatic: other random numbers give other estimates.
    x = binary_images(4)
    package = log_marginal_likelihood(vae, x, 50, images_per_batch=4, seed=3)
    log_px, _ = reference.log_px_sample_by_sample(vae, x, 50, images_per_batch=4, seed=4)
    assert (log_px - package.log_px).abs().max() > 1e-3


def test_sample_by_sample_loop_restores_the_global_random_state(vae):
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    reference.log_px_sample_by_sample(vae, binary_images(4), 5, images_per_batch=4)
    assert torch.equal(torch.rand(3), expected)


def test_likelihood_benchmark_check_catches_a_disagreement(vae):
    import likelihood_speed

    x = binary_images(4)
    same = tuple(log_marginal_likelihood(vae, x, 20, images_per_batch=4, seed=0))
    assert likelihood_speed.check_same_estimates(same, same) == 0.0
    shifted = (same[0] + 0.01, same[1])
    with pytest.raises(AssertionError, match="disagree"):
        likelihood_speed.check_same_estimates(same, shifted)


def test_example_style_model_is_the_same_network_as_its_vae():
    torch.manual_seed(1)
    ref = reference.ExampleStyleVAE()
    model = reference.to_vae(ref)
    x = binary_images(6)
    with torch.no_grad():
        mu, logvar = ref.encode(x)
        q = model.encode(x)
        torch.testing.assert_close(q.mean, mu)
        torch.testing.assert_close(q.stddev, torch.exp(0.5 * logvar))
        z = torch.randn(6, 20)
        torch.testing.assert_close(model.decode_mean(z), ref.decode(z))


def test_example_loss_is_minus_the_package_elbo_for_the_same_noise():
    torch.manual_seed(2)
    ref = reference.ExampleStyleVAE()
    model = reference.to_vae(ref)
    x = binary_images(8)
    torch.manual_seed(5)
    recon, mu, logvar = ref(x)
    loss = reference.example_loss(recon, x, mu, logvar)
    torch.manual_seed(5)
    torch.testing.assert_close(loss, -elbo(model, x).sum(), rtol=1e-5, atol=1e-3)


def test_reference_training_lowers_the_loss():
    x = binary_images(128)
    model = reference.ExampleStyleVAE(hidden_dim=64, latent_dim=4)
    _, losses = reference.train_reference(x, epochs=3, batch_size=32, lr=3e-3, model=model)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]


def test_flop_count_agrees_with_torch_flop_counter():
    batch = 16
    expected = batch * reference.training_flops_per_sample()
    assert reference.training_flops_per_sample() == 3_280_000
    assert reference.linear_weights() == 651_200

    torch.manual_seed(0)
    model = VAE()
    with FlopCounterMode(display=False) as counter:
        (-elbo(model, binary_images(batch)).mean()).backward()
    assert counter.get_total_flops() == expected

    ref = reference.ExampleStyleVAE()
    x = binary_images(batch)
    with FlopCounterMode(display=False) as counter:
        recon, mu, logvar = ref(x)
        reference.example_loss(recon, x, mu, logvar).backward()
    assert counter.get_total_flops() == expected


def test_matmul_rate_and_interleaving():
    rates = benchlib.matmul_gflops(n=64, repeats=3)
    assert len(rates) == 3 and all(r > 0 for r in rates)
    calls = []
    times = benchlib.interleaved(
        {"a": lambda: calls.append("a") or 1.0, "b": lambda: calls.append("b") or 2.0}, 3
    )
    assert calls == ["a", "b"] * 3
    assert times == {"a": [1.0] * 3, "b": [2.0] * 3}


def test_budget_snapshots_keep_the_weights_at_each_budget():
    model = torch.nn.Linear(2, 1)
    snaps = quality_for_time.BudgetSnapshots([30, 15, 60])
    assert not snaps.seen(10.0, 1, model)
    assert not snaps.seen(15.5, 2, model)
    with torch.no_grad():
        model.weight.add_(1.0)  # training goes on: the 15 s copy must not change
    assert snaps.seen(61.0, 5, model)  # one long epoch can pass two budgets
    seconds, epochs, state = snaps.snapshots[15]
    assert (seconds, epochs) == (15.5, 2)
    assert torch.equal(state["weight"] + 1.0, model.weight)
    assert snaps.snapshots[30][:2] == snaps.snapshots[60][:2] == (61.0, 5)


def test_widget_rows_reads_the_layouts_in_use():
    rows = {"rows": [{"view and control": "slider", "median_ms": 1.5, "p90_ms": 3.0}]}
    assert lesson_times.widget_rows(rows) == [["slider", 1.5]]
    assert lesson_times.widget_rows({"explorer": 2.0}) == [["explorer", 2.0]]
    tables = {"tables": [{"columns": ["widget", "median ms"], "rows": [["w", 4.0]]}]}
    assert lesson_times.widget_rows(tables) == [["w", 4.0]]
    assert lesson_times.widget_rows({"nothing": "here"}) == []


def test_render_flags_quick_results_and_missed_targets(tmp_path):
    result = {
        "benchmark": "likelihood_speed",
        "title": "Importance sampling",
        "command": "python benchmarks/likelihood_speed.py --quick",
        "quick": True,
        "date": "2026-01-01 00:00 UTC",
        "machine": {"cpu": "Test CPU", "physical_cores": 2, "torch": "2.x"},
        "settings": {},
        "tables": [benchlib.table("t", ["a", "b|c"], [[1.5, "x"]])],
        "targets": [benchlib.target("3. speed", ">= 3x", 2.0, False, "(why)")],
        "notes": ["a note"],
        "skipped": ["cuda rows: no GPU"],
    }
    (tmp_path / "likelihood_speed.json").write_text(json.dumps(result))
    text = render.render(tmp_path)
    assert "Placeholder numbers" in text
    assert "`python benchmarks/likelihood_speed.py --quick`" in text
    assert "Test CPU" in text and "**missed**" in text
    assert "b\\|c" in text  # a pipe in a cell must not break the markdown table
    assert "Not run yet: `python benchmarks/tsne_time.py`" in text


def _notebook(path: Path, source: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)


@pytest.mark.slow
def test_lesson_times_runs_copies_and_reports_failures(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook(folder / "00_ok.ipynb", "open('made_here.txt', 'w').write('x')\nprint(1 + 1)")
    _notebook(folder / "01_broken.ipynb", "raise ValueError('broken on purpose')")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    results = lesson_times.time_lessons(lesson_times.find_lessons(folder))

    assert [name for name, _, _ in results] == ["00_ok.ipynb", "01_broken.ipynb"]
    (_, seconds, status), (_, broken_seconds, broken_status) = results
    assert status == "ok" and seconds > 0
    assert broken_seconds is None and broken_status.startswith("failed:")
    # The lessons themselves were neither executed in place nor rewritten.
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def _result(name: str, targets: list[dict]) -> dict:
    return {
        "benchmark": name,
        "title": name,
        "command": f"python benchmarks/{name}.py",
        "quick": False,
        "date": "2026-01-01 00:00 UTC",
        "machine": {"cpu": "Test CPU"},
        "settings": {},
        "tables": [],
        "targets": targets,
        "notes": [],
        "skipped": [],
    }


def test_render_numbers_targets_in_summary_order_and_lists_every_script(tmp_path):
    # Hand-made numbers in the result files are dropped: the summary numbers targets 1..n.
    first = _result("training_throughput", [benchlib.target("7. speed", "fast", 1.0, True)])
    second = _result(
        "lesson_times",
        [benchlib.target("5. time", "short", 2.0, True), benchlib.target("widgets", "ms", 3, True)],
    )
    for result in (first, second):
        (tmp_path / f"{result['benchmark']}.json").write_text(json.dumps(result))
    (tmp_path / "lesson_memory.json").write_text(
        json.dumps({"binder_limit_mb": 2048, "lessons": {"00_x": {"peak_mb": 3000, "seconds": 1}}})
    )
    text = render.render(tmp_path)
    assert "| 1. speed |" in text and "| 2. time |" in text and "| 3. widgets |" in text
    assert "7. speed" not in text and "5. time" not in text
    scripts = {p.name for p in BENCHMARKS.glob("*.py")} - {"benchlib.py", "reference.py"}
    scripts -= {"run_all.py"}
    listed = set(re.findall(r"^python benchmarks/(\w+\.py)$", text, flags=re.M))
    assert listed == scripts, f"scripts missing from 'How to reproduce': {scripts - listed}"
    # The memory table says which lesson is over Binder's limit.
    assert "| 00_x | 3,000 | no |" in text


def test_run_all_refuses_an_unknown_skip():
    import run_all

    with pytest.raises(SystemExit):
        run_all.main(["--quick", "--skip", "no_such_benchmark"])
