"""How long from a widget change to new image data in the kernel, per latent-space view.

    python benchmarks/widget_latency.py [--repeats 200] [--in-process] [--untrained]

For each view of ``vae_tutorial.widgets`` it changes a control many times (a slider's ``value``,
a button's ``click()``), exactly as a front-end message does, and times each change until the
view holds its new image and the PNG bytes have been handed to the ``Image`` widget. By default
this runs inside a fresh IPython kernel (started with jupyter_client), so each update also goes
through the kernel's comm layer as in JupyterLab; ``--in-process`` times it in this process.
The model is the shared 784-400-20 VAE (``shared_model("vae-20")``, trained once and cached);
``--untrained`` uses a freshly initialised one of the same size (same arithmetic, no training).

Prints a table (median, 90th percentile, max, in ms) and writes
benchmarks/results/widget_latency.json. The budget is a median of 20 ms per slider change.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "widget_latency.json"
BUDGET_MS = 20.0


def _timed(action, repeats: int, changed) -> list[float]:
    """Run action(i) repeats times; return milliseconds per call, checking each call updated."""
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        action(i)
        times.append(1e3 * (time.perf_counter() - start))
        if not changed():
            raise RuntimeError(f"change {i} did not produce new image data")
    return times


def _tracker(get):
    """A function that says whether get() returns a different object than the last time."""
    last = [get()]

    def changed() -> bool:
        now = get()
        fresh = now is not last[0]
        last[0] = now
        return fresh

    return changed


def measure(repeats: int = 200, untrained: bool = False, seed: int = 0) -> dict:
    """Time every view's controls in this process; returns {name: [ms, ...]} plus metadata."""
    import numpy as np
    import torch

    from vae_tutorial import widgets as W
    from vae_tutorial.data import load_mnist

    torch.manual_seed(seed)
    if untrained:
        from vae_tutorial.models import VAE

        model = VAE(latent_dim=20, hidden_dim=400).eval()
    else:
        from vae_tutorial.checkpoints import shared_model

        model, _ = shared_model("vae-20", progress=False)
    data = load_mnist()
    pool, labels = data.test_x[:500], data.test_y[:500]
    rng = np.random.default_rng(seed)
    timings = {}

    explorer = W.LatentExplorer(model, images=pool, labels=labels)
    dims = explorer.dims
    values = rng.uniform(-3, 3, size=repeats)

    def slide(i):
        explorer.sliders[dims[i % len(dims)]].value = float(values[i])

    timings["LatentExplorer: slider"] = _timed(
        slide, repeats, _tracker(lambda: explorer._image_widget.value)
    )

    def start(i):
        explorer.index.value = (i * 37) % len(pool)
        explorer.start_button.click()

    timings["LatentExplorer: start from image (20 sliders)"] = _timed(
        start, max(repeats // 4, 10), _tracker(lambda: explorer._image_widget.value)
    )

    interpolator = W.Interpolator(model, 0, 1, images=pool, labels=labels)
    ts = rng.uniform(0, 1, size=repeats)

    def move_t(i):
        interpolator.t.value = float(ts[i])

    timings["Interpolator: t slider"] = _timed(
        move_t, repeats, _tracker(lambda: interpolator._image_widget.value)
    )

    def switch(i):
        interpolator.method.value = W.METHODS[(i + 1) % 2]

    timings["Interpolator: linear/spherical (whole strip)"] = _timed(
        switch, max(repeats // 4, 10), _tracker(lambda: interpolator._strip_widget.value)
    )

    sampler = W.PriorSampler(model, n=32, seed=seed)
    temperatures = rng.uniform(0.2, 2.0, size=repeats)

    def temper(i):
        sampler.temperature.value = float(temperatures[i])

    timings["PriorSampler: temperature (32 images)"] = _timed(
        temper, repeats, _tracker(lambda: sampler._grid_widget.value)
    )
    timings["PriorSampler: new samples button (32 images)"] = _timed(
        lambda i: sampler.button.click(),
        max(repeats // 4, 10),
        _tracker(lambda: sampler._grid_widget.value),
    )

    direction = W.thickness_vector(model, data.train_x[:2000], data.train_y[:2000].numpy())
    attribute = W.AttributeSlider(model, pool, {"thickness": direction}, labels=labels)
    alphas = rng.uniform(-2, 2, size=repeats)

    def push(i):
        attribute.alpha.value = float(alphas[i])

    timings["AttributeSlider: alpha slider"] = _timed(
        push, repeats, _tracker(lambda: attribute._image_widget.value)
    )
    return {
        "timings_ms": timings,
        "model": "untrained VAE 784-400-20" if untrained else "shared_model('vae-20')",
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "in_kernel": "ipykernel" in sys.modules and _in_kernel(),
    }


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython

        return get_ipython() is not None and hasattr(get_ipython(), "kernel")
    except ImportError:
        return False


def measure_in_kernel(repeats: int, untrained: bool, seed: int) -> dict:
    """Run :func:`measure` inside a fresh IPython kernel and return its result."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", cwd=str(HERE.parent))
    chunks = []
    try:
        code = (
            f"import json, sys; sys.path.insert(0, {str(HERE)!r})\n"
            "from widget_latency import measure\n"
            f"print(json.dumps(measure({repeats}, {untrained}, {seed})))\n"
        )

        def collect(msg):
            if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                chunks.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                chunks.append("\n".join(msg["content"]["traceback"]))

        reply = client.execute_interactive(code, output_hook=collect, timeout=600)
        if reply["content"]["status"] != "ok":
            raise RuntimeError("the benchmark failed in the kernel:\n" + "".join(chunks))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return json.loads("".join(chunks).strip().splitlines()[-1])


def summarise(result: dict) -> list[dict]:
    rows = []
    for name, times in result["timings_ms"].items():
        ordered = sorted(times)
        rows.append(
            {
                "view and control": name,
                "changes": len(times),
                "median_ms": statistics.median(times),
                "p90_ms": ordered[int(0.9 * (len(ordered) - 1))],
                "max_ms": ordered[-1],
            }
        )
    return rows


def print_table(rows: list[dict]) -> None:
    width = max(len(r["view and control"]) for r in rows)
    print(f"{'view and control':<{width}}  changes  median ms  p90 ms  max ms  within 20 ms")
    for r in rows:
        ok = "yes" if r["median_ms"] <= BUDGET_MS else "NO"
        print(
            f"{r['view and control']:<{width}}  {r['changes']:>7}  {r['median_ms']:>9.2f}  "
            f"{r['p90_ms']:>6.2f}  {r['max_ms']:>6.1f}  {ok:>12}"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="changes per slider")
    parser.add_argument("--in-process", action="store_true", help="time here, not in a kernel")
    parser.add_argument("--untrained", action="store_true", help="untrained 784-400-20 VAE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.in_process:
        result = measure(args.repeats, args.untrained, args.seed)
    else:
        result = measure_in_kernel(args.repeats, args.untrained, args.seed)
    rows = summarise(result)
    print_table(rows)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    record = {
        "benchmark": "widget_latency",
        "budget_median_ms": BUDGET_MS,
        "rows": rows,
        "all_within_budget": all(r["median_ms"] <= BUDGET_MS for r in rows),
        "model": result["model"],
        "in_kernel": result["in_kernel"],
        "torch": result["torch"],
        "torch_threads": result["torch_threads"],
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_average_1_5_15": load,
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0 if record["all_within_budget"] else 1


if __name__ == "__main__":
    sys.exit(main())
