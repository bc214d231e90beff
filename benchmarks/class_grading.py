"""Grading a class: seconds to autograde 50 submissions of each assignment, serial vs parallel.

python benchmarks/class_grading.py [--quick] [--count N] [--jobs N] [--assignment NAME ...]

For each assignment, ``vae_tutorial.course.time_grading`` generates the student version in a
scratch copy of the course, fills in the reference solutions as ``count`` student submissions,
then grades them twice: once with one ``nbgrader autograde`` call (nbgrader's own serial loop,
the reference) and once with ``python -m vae_tutorial.course autograde --jobs N`` (one process per
submission, one thread each). Both use one torch thread per kernel. The two runs of an
assignment are made one after the other, not interleaved. ``--quick`` grades 2 submissions of
the first assignment.
"""

from __future__ import annotations

import os

import benchlib

from vae_tutorial.course import assignment_names, time_grading


def extra(parser):
    parser.add_argument("--count", type=int, default=50, help="submissions per assignment")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel processes")
    parser.add_argument("--assignment", action="append", help="only this one (repeatable)")


def main(argv=None):
    args = benchlib.parse_args(__doc__.splitlines()[0], argv, extra)
    names = args.assignment or assignment_names()
    count = args.count
    if args.quick:
        names, count = names[:1], 2
    rows, loads = [], []
    for name in names:
        load_before = os.getloadavg()[0]
        times = time_grading(name, count, args.jobs)
        loads.append((load_before, os.getloadavg()[0]))
        serial, parallel = times["serial"], times["parallel"]
        rows.append(
            [
                name,
                count,
                serial,
                serial / count,
                args.jobs,
                parallel,
                parallel / count,
                serial / parallel,
            ]
        )
        print(f"{name}: serial {serial:.0f} s, {args.jobs} jobs {parallel:.0f} s", flush=True)
    notes = [
        "Each submission is the assignment's reference solution, so every test runs to the end"
        " (assignment 2 retrains the student's model while grading).",
        "1-min load average before and after each assignment: "
        + ", ".join(f"{n} {a:.1f} -> {b:.1f}" for n, (a, b) in zip(names, loads))
        + ".",
        "An estimate for a class of n students on this machine: n x the seconds per submission.",
    ]
    benchlib.finish(
        "class_grading",
        "Grading a class: serial vs parallel autograding",
        args,
        [
            benchlib.table(
                f"Autograding {count} submissions per assignment (nbgrader, one thread per kernel)",
                [
                    "assignment",
                    "submissions",
                    "serial s",
                    "serial s each",
                    "jobs",
                    "parallel s",
                    "parallel s each",
                    "x faster",
                ],
                rows,
            )
        ],
        notes=notes,
        settings={"count": count, "jobs": args.jobs, "assignments": names},
    )


if __name__ == "__main__":
    main()
