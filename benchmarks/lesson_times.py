"""Run time of every lesson and of the whole series, plus the widgets' median update latency.

python benchmarks/lesson_times.py [--quick] [--only GLOB] [--timeout S]

Every ``notebooks/*.ipynb`` is executed top to bottom in a fresh kernel with
``vae_tutorial.execute.execute_notebook``, on a copy of the notebooks folder in a temporary
directory: the lessons in the repository are never touched. The time includes starting the kernel.
Shared models come from the user cache (``~/.cache/vae-tutorial``); whether it was warm is
reported, because a cold cache adds their training time to the first lessons that need them.
If ``benchmarks/results/widget_latency.json`` exists (written by ``benchmarks/widget_latency.py``),
its median latencies are reported too. ``--quick`` runs only the first lesson.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import benchlib

from vae_tutorial.checkpoints import models_folder
from vae_tutorial.execute import execute_notebook

NOTEBOOKS = benchlib.ROOT / "notebooks"
WIDGET_RESULTS = benchlib.RESULTS / "widget_latency.json"
LESSON_TARGET_S = 90  # seconds per lesson, top to bottom in a fresh kernel
WIDGET_TARGET_MS = 20


def find_lessons(folder: Path = NOTEBOOKS, only: str = "*.ipynb") -> list[Path]:
    """The lessons in run order (by file name), without Jupyter's checkpoint copies."""
    return sorted(p for p in folder.glob(only) if ".ipynb_checkpoints" not in p.parts)


def time_lessons(paths: list[Path], timeout: int = 600) -> list[tuple[str, float | None, str]]:
    """Execute copies of ``paths`` (all in one folder); return (name, seconds, status) each.

    The whole folder is copied so that lessons find files next to them; a lesson that fails
    gets seconds None and the error in its status, and the others still run.
    """
    results = []
    if not paths:
        return results
    source = paths[0].parent
    with tempfile.TemporaryDirectory(prefix="lesson-times-") as tmp:
        copy = Path(tmp) / source.name
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        for path in paths:
            try:
                seconds = execute_notebook(copy / path.name, timeout=timeout)
                results.append((path.name, seconds, "ok"))
            except Exception as err:  # report a broken lesson, keep timing the others
                first_line = (str(err).strip().splitlines() or [""])[0][:120]
                results.append((path.name, None, f"failed: {type(err).__name__}: {first_line}"))
    return results


def widget_rows(data) -> list[list]:
    """(widget, median ms) pairs from a widget-latency result, in whichever layout it uses:
    this folder's own result layout (tables), a list of row dicts, or {widget: value}.
    """
    rows = []
    if isinstance(data, dict) and isinstance(data.get("tables"), list):
        for tab in data["tables"]:
            columns = [str(c).lower() for c in tab.get("columns", [])]
            hit = next((i for i, c in enumerate(columns) if "median" in c), None)
            if hit is not None:
                rows += [[str(r[0]), r[hit]] for r in tab.get("rows", []) if len(r) > hit]
        return rows
    items = data.get("rows", data) if isinstance(data, dict) else data
    if isinstance(items, dict):
        items = [
            {"widget": k, **(v if isinstance(v, dict) else {"median_ms": v})}
            for k, v in items.items()
        ]
    if not isinstance(items, list):
        return rows
    for item in items:
        if not isinstance(item, dict):
            continue
        name = item.get("widget", item.get("name"))
        if name is None:  # else the first text field names the row
            name = next((v for v in item.values() if isinstance(v, str)), None)
        key = next((k for k in item if "median" in str(k).lower()), None)
        if name is not None and key is not None and isinstance(item[key], (int, float)):
            rows.append([str(name), float(item[key])])
    return rows


def main(argv=None):
    def extra(parser):
        parser.add_argument("--only", default="*.ipynb", help="glob of lessons to run")
        parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")

    args = benchlib.parse_args(__doc__.splitlines()[0], argv, extra)
    lessons = find_lessons(NOTEBOOKS, args.only)
    if args.quick:
        lessons = lessons[:1]
    cache_files = sorted(p.name for p in models_folder().glob("*.pt"))
    results = time_lessons(lessons, args.timeout)

    tables, targets, skipped, notes = [], [], [], []
    rows = [
        [name, seconds, status, None if seconds is None else seconds <= LESSON_TARGET_S]
        for name, seconds, status in results
    ]
    done = [s for _, s, _ in results if s is not None]
    if results:
        rows.append(["whole series", sum(done), f"{len(done)} of {len(results)} ran", None])
        tables.append(
            benchlib.table(
                "Lesson run times (fresh kernel, top to bottom, kernel start included)",
                ["lesson", "seconds", "status", f"<= {LESSON_TARGET_S} s"],
                rows,
            )
        )
        slowest = max(done) if done else None
        targets.append(
            benchlib.target(
                "lesson run time",
                f"every lesson <= {LESSON_TARGET_S} s on this machine (load in the Machine line)",
                slowest,
                None
                if not done or args.quick
                else (slowest <= LESSON_TARGET_S and len(done) == len(results)),
                f"(slowest lesson; {len(done)} of {len(results)} lessons ran"
                + ("; quick mode runs only the first)" if args.quick else ")"),
            )
        )
    else:
        skipped.append(f"lessons: no notebooks match {args.only!r} in {NOTEBOOKS}")
    notes.append(
        "Model cache was "
        + (f"warm ({', '.join(cache_files)})" if cache_files else "cold (models trained on demand)")
        + " when the run started."
    )

    if WIDGET_RESULTS.exists():
        data = json.loads(WIDGET_RESULTS.read_text())
        widgets = widget_rows(data)
        if widgets:
            tables.append(
                benchlib.table(
                    f"Widget update latency (from {WIDGET_RESULTS.relative_to(benchlib.ROOT)})",
                    ["widget", "median ms", f"<= {WIDGET_TARGET_MS} ms"],
                    [[w, ms, ms <= WIDGET_TARGET_MS] for w, ms in widgets],
                )
            )
            budget = data.get("budget_median_ms") if isinstance(data, dict) else None
            if isinstance(budget, (int, float)) and budget != WIDGET_TARGET_MS:
                notes.append(f"The widget benchmark states its own budget: {budget} ms.")
            worst = max(ms for _, ms in widgets)
            targets.append(
                benchlib.target(
                    "widget latency",
                    f"median update <= {WIDGET_TARGET_MS} ms for every widget",
                    worst,
                    worst <= WIDGET_TARGET_MS,
                    "(slowest widget)",
                )
            )
            if isinstance(data, dict):
                when = data.get("date", "an unknown date")
                how = data.get("command", "benchmarks/widget_latency.py")
                load = (data.get("machine") or {}).get("load_average_1_5_15") or [None]
                at_load = (
                    f" at a 1-min load average of {load[0]:.1f}" if load[0] is not None else ""
                )
                notes.append(f"Widget latencies measured by {how} on {when}{at_load}.")
        else:
            skipped.append(f"widget latency: no median values recognised in {WIDGET_RESULTS.name}")
    else:
        skipped.append(
            "widget latency: benchmarks/results/widget_latency.json not found "
            "(run benchmarks/widget_latency.py first)"
        )

    benchlib.finish(
        "lesson_times",
        "Lesson run times and widget latency",
        args,
        tables,
        targets,
        notes,
        skipped,
        settings={"only": args.only, "timeout_per_cell_s": args.timeout},
    )


if __name__ == "__main__":
    main()
