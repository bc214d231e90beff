"""Run every benchmark one after another, then write BENCHMARKS.md.

python benchmarks/run_all.py [--quick] [--threads N]

Each benchmark runs in its own process (so none inherits another's warm caches or thread pools);
one that fails is reported and the others still run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "training_throughput.py",
    "likelihood_speed.py",
    "quality_for_time.py",
    "tsne_time.py",
    "lesson_times.py",
]
# Written separately (it has its own options); run before lesson_times.py, which reports it.
WIDGETS = "widget_latency.py"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    flags = (["--quick"] if args.quick else []) + (
        ["--threads", str(args.threads)] if args.threads else []
    )
    runs = [(script, flags) for script in SCRIPTS]
    if (HERE / WIDGETS).exists() and not args.quick:
        # In quick mode the last full widget result is kept and reported as it is.
        runs.insert(-1, (WIDGETS, []))
    failed = []
    for script, options in runs:
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / script), *options], cwd=HERE.parent)
        print(f"[{script}: exit {code}, {time.perf_counter() - start:.0f} s]", flush=True)
        if code:
            failed.append(script)
    subprocess.call([sys.executable, str(HERE / "render.py")], cwd=HERE.parent)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
