"""Write BENCHMARKS.md from the result files in benchmarks/results/.

python benchmarks/render.py [--results DIR] [--out FILE]

Every section says which command produced it, when, and on what machine; targets are listed as
met or missed. Results made with --quick are flagged as placeholders at the top.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import benchlib

ORDER = [
    ("training_throughput", "python benchmarks/training_throughput.py"),
    ("quality_for_time", "python benchmarks/quality_for_time.py"),
    ("techniques", "python benchmarks/techniques.py"),
    ("likelihood_speed", "python benchmarks/likelihood_speed.py"),
    ("lesson_times", "python benchmarks/lesson_times.py"),
    ("tsne_time", "python benchmarks/tsne_time.py"),
    ("class_grading", "python benchmarks/class_grading.py"),
]
# Scripts whose results other sections report (widget latency, under lesson times) or that keep
# their own format (lesson memory): listed under "How to reproduce" in the order to run them.
REPRODUCE = [
    "python benchmarks/training_throughput.py",
    "python benchmarks/quality_for_time.py",
    "python benchmarks/techniques.py",
    "python benchmarks/likelihood_speed.py",
    "python benchmarks/tsne_time.py",
    "python benchmarks/widget_latency.py",
    "python benchmarks/lesson_times.py",
    "python benchmarks/lesson_memory.py",
    "python benchmarks/class_grading.py",
    "python benchmarks/render.py",
]
MEMORY = "lesson_memory"
VERDICT = {True: "met", False: "**missed**", None: "not measured"}


def cell(value) -> str:
    return benchlib.format_value(value).replace("|", "\\|")


def markdown_table(columns, rows) -> list[str]:
    lines = ["| " + " | ".join(cell(c) for c in columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def machine_line(info: dict) -> str:
    cores = info.get("physical_cores")
    parts = [
        info.get("cpu", "unknown CPU"),
        f"{cores} physical cores" if cores else None,
        f"{info.get('logical_cpus')} logical CPUs ({info.get('cpus_available')} available)",
        f"torch {info.get('torch')} with {info.get('torch_threads')} threads",
        f"scikit-learn {info.get('scikit_learn')}",
        f"Python {info.get('python')}",
        f"GPU {info['gpu']}" if info.get("gpu") else "no GPU",
    ]
    start, end = info.get("load_average_1min_start"), info.get("load_average_1min_end")
    if start is not None and end is not None:
        parts.append(f"1-min load average {start:.1f} before and {end:.1f} after the run")
    return "; ".join(p for p in parts if p)


def number_targets(results: dict) -> None:
    """Number every target 1..n in the order of the summary (a name's own number is dropped)."""
    count = 0
    for name, _ in ORDER:
        for goal in results.get(name, {}).get("targets", []):
            count += 1
            goal["name"] = f"{count}. {re.sub(r'^[0-9]+[.] *', '', goal['name'])}"


def memory_section(memory: dict) -> list[str]:
    """Peak memory and run time of every lesson (benchmarks/lesson_memory.py's own format)."""
    limit = memory.get("binder_limit_mb", 2048)
    rows = []
    for lesson, entry in sorted(memory.get("lessons", {}).items()):
        peak = entry.get("peak_mb")
        rows.append(
            [
                lesson,
                peak,
                None if peak is None else peak <= limit,
                entry.get("seconds"),
                entry.get("date"),
                entry.get("load_average_1min_start"),
            ]
        )
    columns = ["lesson", "peak MB", f"<= {limit} MB (Binder)", "seconds", "date", "load before"]
    lines = ["## Peak memory of each lesson", ""]
    lines.append("- Command: `python benchmarks/lesson_memory.py` (one kernel at a time)")
    lines.append("")
    lines += markdown_table(columns, rows)
    return lines + [""]


def section(result: dict) -> list[str]:
    lines = [f"## {result['title']}", ""]
    lines.append(f"- Command: `{result['command']}`" + (" (quick mode)" if result["quick"] else ""))
    lines.append(f"- Date: {result['date']}")
    lines.append(f"- Machine: {machine_line(result['machine'])}")
    lines.append("")
    for tab in result["tables"]:
        lines += [f"**{tab['title']}**", ""]
        lines += markdown_table(tab["columns"], tab["rows"])
        lines.append("")
    if result["targets"]:
        lines.append("Targets:")
        lines.append("")
        for goal in result["targets"]:
            lines.append(
                f"- {goal['name']}: {goal['goal']}; measured {cell(goal['value'])}, "
                f"{VERDICT[goal['met']]} {goal['detail']}".rstrip()
            )
        lines.append("")
    for line in result["skipped"]:
        lines.append(f"- Skipped: {line}")
    for line in result["notes"]:
        lines.append(f"- {line}")
    lines.append("")
    return lines


def render(results_dir: Path = benchlib.RESULTS) -> str:
    results = {}
    for name, _ in ORDER:
        path = results_dir / f"{name}.json"
        if path.exists():
            results[name] = json.loads(path.read_text())
    number_targets(results)
    lines = ["# Benchmarks", ""]
    quick = [n for n, r in results.items() if r["quick"]]
    missing = [n for n, _ in ORDER if n not in results]
    if quick or missing:
        lines += [
            "> **Placeholder numbers.** "
            + (
                f"Made in quick mode (few repeats, small sizes): {', '.join(quick)}. "
                if quick
                else ""
            )
            + (f"Not run yet: {', '.join(missing)}. " if missing else "")
            + "They show that the scripts work, not how fast anything is. Regenerate on an idle "
            "machine with the commands below.",
            "",
        ]
    lines += [
        "Speed and quality of the `vae_tutorial` package against plain PyTorch baselines. A "
        "ratio always compares two runs made by the same script on the same machine: training "
        "throughput and importance sampling alternate the two contenders (A, B, A, B, ...) and "
        "report medians; quality for time and class grading run them one after the other. Each "
        "section gives the machine's load average before and after its run. Each script prints "
        "its table and writes `benchmarks/results/<name>.json`; `python benchmarks/render.py` "
        "writes this file from those results.",
        "",
        "## Summary of targets",
        "",
    ]
    summary = [
        [
            goal["name"],
            goal["goal"],
            goal["value"],
            VERDICT[goal["met"]].strip("*") + (" (quick mode)" if results[name]["quick"] else ""),
        ]
        for name, _ in ORDER
        if name in results
        for goal in results[name]["targets"]
    ]
    lines += markdown_table(["target", "goal", "measured", "verdict"], summary) + [""]
    lines += ["## How to reproduce", "", "```bash"]
    lines += REPRODUCE + ["```", ""]
    lines += [
        "Or all at once: `python benchmarks/run_all.py` (add `--quick` for a smoke test, "
        "`--skip class_grading` to leave out the hour of autograding).",
        "",
    ]
    for name, command in ORDER:
        if name in results:
            lines += section(results[name])
        else:
            lines += [f"## {name}", "", f"Not run yet: `{command}`.", ""]
    memory = results_dir / f"{MEMORY}.json"
    if memory.exists():
        lines += memory_section(json.loads(memory.read_text()))
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=benchlib.RESULTS)
    parser.add_argument("--out", type=Path, default=benchlib.ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    text = render(args.results)
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.write_text(text)
    tmp.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
