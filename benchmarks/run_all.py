"""Run every benchmark one after another, then write BENCHMARKS.md.

python benchmarks/run_all.py [--quick] [--threads N] [--skip NAME ...]

class_grading autogrades 50 submissions of every assignment twice (about an hour on 2 cores);
``--skip class_grading`` leaves it out and keeps its last result.

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
    "quality_for_time.py",
    "techniques.py",
    "likelihood_speed.py",
    "tsne_time.py",
    "lesson_times.py",
    "class_grading.py",
]
# Written separately (it has its own options); run before lesson_times.py, which reports it.
WIDGETS = "widget_latency.py"
# Runs every lesson once more, one kernel at a time (takes no --quick or --threads).
MEMORY = "lesson_memory.py"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--skip", action="append", default=[], help="a script to leave out, e.g. class_grading"
    )
    args = parser.parse_args(argv)
    unknown = {name.removesuffix(".py") for name in args.skip} - {
        script.removesuffix(".py") for script in [*SCRIPTS, MEMORY]
    }
    if unknown:
        parser.error(f"--skip: no benchmark named {', '.join(sorted(unknown))}")
    flags = (["--quick"] if args.quick else []) + (
        ["--threads", str(args.threads)] if args.threads else []
    )
    skip = {name.removesuffix(".py") for name in args.skip}
    runs = [(script, flags) for script in SCRIPTS if script.removesuffix(".py") not in skip]
    if not args.quick:
        # In quick mode the last full widget and memory results are kept and reported as they are.
        names = [script for script, _ in runs]
        at = names.index("lesson_times.py") if "lesson_times.py" in names else len(runs)
        runs.insert(at, (WIDGETS, []))  # lesson_times.py reports the widget latencies
        if "lesson_memory" not in skip:
            runs.insert(at + 2, (MEMORY, []))
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
