"""Peak memory of each lesson's kernel, against Binder's limit of 2 GB.

python benchmarks/lesson_memory.py [notebooks/NN_name.ipynb ...]   (default: every lesson)

Each lesson is copied to a temporary folder and run top to bottom in a fresh kernel by a separate
Python process (``vae_tutorial.execute.execute_notebook``); once the kernel has exited, that
process reads the peak resident memory of its children from the operating system
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the largest child, i.e. the kernel). The lessons in the
repository are never touched. Results: benchmarks/results/lesson_memory.json (merged with earlier
runs, one entry per lesson). Linux and macOS only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "lesson_memory.json"
BINDER_LIMIT_MB = 2048

CHILD = """
import json, resource, sys
from vae_tutorial.execute import execute_notebook
execute_notebook(sys.argv[1])
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
scale = 1 / 1024 if sys.platform != "darwin" else 1 / 1024 / 1024  # KiB on Linux, bytes on macOS
print(json.dumps({"peak_mb": round(peak * scale)}))
"""


def measure(lesson: Path) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / lesson.name
        shutil.copy(lesson, copy)
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(copy)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        seconds = time.perf_counter() - start
    when = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_1min_start": round(load_before, 2),
    }
    if result.returncode != 0:
        return {"error": result.stderr[-1000:], **when}
    # wall-clock seconds from a fresh Python process to the saved notebook (kernel start included)
    row = json.loads(result.stdout.strip().splitlines()[-1])
    return {**row, "seconds": round(seconds, 1), **when}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    lessons = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.setdefault("binder_limit_mb", BINDER_LIMIT_MB)
    rows = results.setdefault("lessons", {})
    failed = False
    for lesson in lessons:
        row = measure(lesson)
        rows[lesson.stem] = row
        peak = row.get("peak_mb")
        ok = peak is not None and peak < BINDER_LIMIT_MB
        failed |= not ok
        verdict = "under" if ok else "NOT under"
        print(f"{lesson.stem}: {peak} MB peak ({verdict} Binder's 2 GB), {row.get('seconds')} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
