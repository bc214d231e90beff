"""Write BENCHMARKS.md from the result files in benchmarks/results/.

python benchmarks/render.py [--results DIR] [--out FILE]

Every section says which command produced it, when, and on what machine; targets are listed as
met or missed. Results made with --quick are flagged as placeholders at the top.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import benchlib

ORDER = [
    ("training_throughput", "python benchmarks/training_throughput.py"),
    ("likelihood_speed", "python benchmarks/likelihood_speed.py"),
    ("quality_for_time", "python benchmarks/quality_for_time.py"),
    ("lesson_times", "python benchmarks/lesson_times.py"),
    ("tsne_time", "python benchmarks/tsne_time.py"),
]
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
        "Speed and quality of the `vae_tutorial` package against plain PyTorch baselines, "
        "measured side by side in one run (medians of interleaved repeats). Each script prints "
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
    lines += [command for _, command in ORDER]
    lines += ["python benchmarks/render.py", "```", ""]
    lines += [
        "Or all at once: `python benchmarks/run_all.py` (add `--quick` for a smoke test).",
        "",
    ]
    for name, command in ORDER:
        if name in results:
            lines += section(results[name])
        else:
            lines += [f"## {name}", "", f"Not run yet: `{command}`.", ""]
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
