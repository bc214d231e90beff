"""What every benchmark script shares: options, machine description, timing, tables, results.

Each script in this folder runs as ``python benchmarks/<name>.py [--quick]``, prints a table and
writes ``benchmarks/results/<name>.json``; ``benchmarks/render.py`` turns those files into
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
# The 1-minute load average when this module was imported, i.e. before the benchmark ran.
LOAD_AT_START = os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def parse_args(description: str, argv=None, extra: Callable | None = None) -> argparse.Namespace:
    """The options every benchmark takes: --quick, --threads, --out (plus ``extra(parser)``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="few repeats and small sizes: checks that the script works, not a measurement",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="result file (default: benchmarks/results/)"
    )
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be a positive integer, got {args.threads}")
        torch.set_num_threads(args.threads)
    return args


def command_line() -> str:
    """How this script was started, as a shell command run from the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    return " ".join(["python", str(script), *sys.argv[1:]])


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def physical_cores() -> int | None:
    """Distinct (physical id, core id) pairs in /proc/cpuinfo; None where that file is missing."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    cores, package = set(), "0"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "physical id":
            package = value
        elif key == "core id":
            cores.add((package, value))
    return len(cores) or None


def machine() -> dict:
    """Where the numbers were measured: CPU, cores, threads, library versions, current load."""
    import numpy
    import sklearn

    info = {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": physical_cores(),
        "cpus_available": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "blas_mkl": torch.backends.mkl.is_available(),
        "numpy": numpy.__version__,
        "scikit_learn": sklearn.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1min_start": LOAD_AT_START,
        "load_average_1min_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def gpu_available() -> bool:
    return torch.cuda.is_available()


def synchronize(device: str | torch.device) -> None:
    """Wait for queued GPU work so wall-clock times cover it (no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def interleaved(runs: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Call each run in turn, ``repeats`` rounds (A, B, A, B, ...); each returns its seconds.

    Interleaving spreads slow phases of a busy machine over every contender alike.
    """
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(run())
    return times


def timed(fn: Callable[[], object], device: str | torch.device = "cpu") -> float:
    """Seconds of wall-clock time of ``fn()``, including queued GPU work."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def median(values) -> float:
    return float(statistics.median(values))


def paired_difference(a, b) -> tuple[float, float]:
    """Mean of ``a - b`` over the same items (e.g. test images) and its standard error."""
    difference = a - b
    return float(difference.mean()), float(difference.std() / len(difference) ** 0.5)


def matmul_gflops(
    n: int = 2048, repeats: int = 10, device: str | torch.device = "cpu"
) -> list[float]:
    """The machine's own float32 matrix-multiply rate: GFLOP/s of each of ``repeats`` n x n
    products (take the median). One product of two n x n matrices is 2 n^3 FLOPs.
    """
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator).to(device)
    b = torch.randn(n, n, generator=generator).to(device)
    out = torch.empty(n, n, device=device)
    for _ in range(2):  # warm-up: thread pool, caches, GPU kernels
        torch.matmul(a, b, out=out)
    return [
        2 * n**3 / timed(lambda: torch.matmul(a, b, out=out), device) / 1e9 for _ in range(repeats)
    ]


def format_value(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        if magnitude >= 100:
            return f"{value:.1f}"
        if magnitude >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def text_table(columns: list[str], rows: list[list]) -> str:
    """A plain-text table for the terminal."""
    cells = [columns] + [[format_value(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def table(title: str, columns: list[str], rows: list[list]) -> dict:
    return {"title": title, "columns": list(columns), "rows": [list(r) for r in rows]}


def target(name: str, goal: str, value: float | None, met: bool | None, detail: str = "") -> dict:
    """A target of the benchmark: its goal in words, the measured value and whether it was met."""
    return {"name": name, "goal": goal, "value": value, "met": met, "detail": detail}


def finish(
    name: str,
    title: str,
    args: argparse.Namespace,
    tables: list[dict],
    targets: list[dict] = (),
    notes: list[str] = (),
    skipped: list[str] = (),
    settings: dict | None = None,
) -> dict:
    """Print the tables and targets, and write the result file; return the result."""
    result = {
        "benchmark": name,
        "title": title,
        "command": command_line(),
        "quick": bool(args.quick),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "settings": settings or {},
        "tables": list(tables),
        "targets": list(targets),
        "notes": list(notes),
        "skipped": list(skipped),
    }
    print(f"\n== {title} ==")
    if args.quick:
        print("(quick mode: a smoke test, not a measurement)")
    for tab in tables:
        print(f"\n{tab['title']}\n{text_table(tab['columns'], tab['rows'])}")
    for goal in targets:
        verdict = {True: "MET", False: "MISSED", None: "NOT MEASURED"}[goal["met"]]
        print(
            f"target {goal['name']}: {goal['goal']}; measured {format_value(goal['value'])}"
            f" -> {verdict} {goal['detail']}".rstrip()
        )
    for line in skipped:
        print(f"skipped: {line}")
    for line in notes:
        print(f"note: {line}")
    path = args.out or RESULTS / f"{name}.json"
    write_json(result, path)
    print(f"\nwrote {path}")
    return result


def write_json(obj, path: Path) -> None:
    """Write JSON atomically (a temporary file, then rename): no half-written result files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)
