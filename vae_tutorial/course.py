"""Instructor tools for the nbgrader course in ``assignments/``: the student distribution and
autograding a class in parallel.

Command line (from the repository root, with the environment active)::

    python -m vae_tutorial.course build-student-dist OUT
    python -m vae_tutorial.course autograde ASSIGNMENT [--jobs N] [--student ID ...] [--force]

``build-student-dist`` writes to OUT what students need and nothing else: the lessons, the
package, the environment files and the student version of every assignment found under
``assignments/source`` (made by ``nbgrader generate_assignment``: no solutions, no hidden tests).
``autograde`` deals the submissions into ``--jobs`` groups and grades each group with one
``nbgrader autograde`` process, each kernel with one thread, all writing to the course's gradebook
through SQLite with a long busy timeout (SQLite lets one process write at a time; the others wait
instead of failing).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
COURSE = REPOSITORY / "assignments"

# What a student distribution holds, relative to the repository root (the student notebooks are
# added under assignments/). Everything else (tests, benchmarks, the instructor's course) stays out.
STUDENT_FILES = (
    "notebooks",
    "vae_tutorial",
    "requirements.txt",
    "environment.yml",
    "pyproject.toml",
)
# Environment variables the graders must not inherit: VAE_TUTORIAL_MNIST makes load_mnist download
# and use the full MNIST instead of the embedded subset the targets were set on.
UNSET_FOR_GRADING = ("VAE_TUTORIAL_MNIST",)
# One thread per grading process: several processes with PyTorch's default thread pools on the
# same cores slow each other down many times over.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def assignment_names(course: Path = COURSE) -> list[str]:
    """Every assignment of the course: the folders under ``source/`` that hold a notebook."""
    return sorted(p.name for p in (course / "source").iterdir() if list(p.glob("*.ipynb")))


def grading_environment(base: dict | None = None) -> dict:
    """The environment for nbgrader's kernels: one thread each, no data switch."""
    env = dict(os.environ if base is None else base)
    for name in UNSET_FOR_GRADING:
        env.pop(name, None)
    env.update(ONE_THREAD)
    # nbgrader runs `alembic` from PATH when it creates a gradebook.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _nbgrader(course: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=grading_environment(env),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    return result


def build_student_dist(out: str | Path, repository: Path = REPOSITORY) -> Path:
    """Write the student distribution to ``out`` (which must not exist yet); return its path."""
    out = Path(out)
    if out.exists():
        raise ValueError(f"out {out} already exists: give a new folder (or delete it first).")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    # This module is the instructor's tool (it fills in solutions to time grading).
    ignore_package = shutil.ignore_patterns("__pycache__", "*.pyc", "course.py")
    out.mkdir(parents=True)
    for name in STUDENT_FILES:
        source = repository / name
        if source.is_dir():
            shutil.copytree(
                source, out / name, ignore=ignore_package if name == "vae_tutorial" else ignore
            )
        elif source.exists():
            shutil.copy2(source, out / name)
    # The student notebooks, generated in a scratch copy of the course so that the instructor's
    # release/ folder and gradebook are left as they are.
    with tempfile.TemporaryDirectory() as scratch:
        course = Path(scratch) / "course"
        course.mkdir()
        shutil.copy2(repository / "assignments" / "nbgrader_config.py", course)
        shutil.copytree(repository / "assignments" / "source", course / "source", ignore=ignore)
        env = {**os.environ, "HOME": scratch, "JUPYTER_CONFIG_DIR": str(Path(scratch) / "jc")}
        for assignment in assignment_names(course):
            _nbgrader(course, "generate_assignment", assignment, "--force", env=env)
            shutil.copytree(course / "release" / assignment, out / "assignments" / assignment)
    (out / "README.md").write_text(
        "# vae-tutorial: student edition\n\n"
        "Install the environment (`python -m venv .venv && . .venv/bin/activate && "
        "pip install -r requirements.txt`), then `jupyter lab`.\n\n"
        "* `notebooks/`: the lessons, in order (start with `00_start_here.ipynb`).\n"
        "* `assignments/<name>/<name>.ipynb`: the graded assignments; fill in the cells that say "
        "`# YOUR CODE HERE` or `YOUR ANSWER HERE`, then Restart and Run All before handing in.\n"
    )
    return out


def submissions(course: Path, assignment: str) -> list[str]:
    """The students with a submission of ``assignment`` in ``submitted/``."""
    return sorted(
        p.parent.name for p in (course / "submitted").glob(f"*/{assignment}") if p.is_dir()
    )


def autograde_parallel(
    assignment: str,
    course: Path = COURSE,
    jobs: int | None = None,
    students: list[str] | None = None,
    force: bool = False,
    env: dict | None = None,
) -> dict[str, float]:
    """Autograde every submission of ``assignment`` (or ``students``) with ``jobs`` processes.

    The students are dealt into ``jobs`` groups; each group is copied to a staging folder inside
    the course and graded by one ``nbgrader autograde`` process that reads its submissions from
    there (``--CourseDirectory.submitted_directory``) and writes to the course's ``autograded/``
    and gradebook as usual. One process per group, not per student: starting nbgrader costs about
    as much as grading a short notebook, so a process per submission gains nothing on two cores.

    Returns {student: seconds of its group's process}. Raises RuntimeError naming the students
    whose group failed.
    """
    course = Path(course).resolve()
    jobs = jobs or os.cpu_count() or 1
    if jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs}.")
    students = submissions(course, assignment) if students is None else list(students)
    missing = [s for s in students if not (course / "submitted" / s / assignment).is_dir()]
    if missing:
        raise ValueError(f"no submission of {assignment} in submitted/ for {missing}.")
    if not students:
        return {}
    # A gradebook writer waits up to 10 minutes for another one instead of failing at once.
    database = f"sqlite:///{course / 'gradebook.db'}?timeout=600"
    if not (course / "gradebook.db").exists():
        _nbgrader(course, "db", "assignment", "list", env=env)
    groups = [group for group in (students[i::jobs] for i in range(jobs)) if group]
    staging = Path(tempfile.mkdtemp(prefix=".grading-", dir=course))
    # Kernels talk to nbgrader over TCP ports that jupyter_client picks by binding to port 0 and
    # releasing it before the kernel starts; two graders starting kernels at the same moment can
    # be handed the same port, and then a kernel dies before it replies. Over Unix sockets with
    # one path prefix per group they cannot collide. The folder is short because a socket's path
    # is limited to about 100 characters.
    sockets = Path(tempfile.mkdtemp(prefix="vae-grading-")) if os.name == "posix" else None

    def grade(index: int) -> tuple[list[str], float, str]:
        folder = staging / f"group{index}"
        for student in groups[index]:
            shutil.copytree(
                course / "submitted" / student / assignment, folder / student / assignment
            )
        start = time.perf_counter()
        args = [
            "autograde",
            assignment,
            f"--CourseDirectory.submitted_directory={folder.relative_to(course)}",
            f"--CourseDirectory.db_url={database}",
            *(["--force"] if force else []),
        ]
        if sockets is not None:
            args += ["--KernelManager.transport=ipc", f"--KernelManager.ip={sockets}/g{index}"]
        result = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=course,
            env=grading_environment(env),
            capture_output=True,
            text=True,
        )
        error = "" if result.returncode == 0 else result.stderr[-4000:]
        return groups[index], time.perf_counter() - start, error

    try:
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            results = list(pool.map(grade, range(len(groups))))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if sockets is not None:
            shutil.rmtree(sockets, ignore_errors=True)
    failed = [(group, error) for group, _, error in results if error]
    if failed:
        details = "\n".join(f"--- {', '.join(group)}\n{error}" for group, error in failed)
        names = sorted(student for group, _ in failed for student in group)
        raise RuntimeError(f"autograding failed for {names}:\n{details}")
    return {student: seconds for group, seconds, _ in results for student in group}


def _solution_submission(course: Path, assignment: str):
    """The released notebook with the source's solutions filled in (markers dropped)."""
    import nbformat

    source = nbformat.read(course / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    answers = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            lines = cell.source.split("\n")
            answers[meta["grade_id"]] = "\n".join(
                line
                for line in lines
                if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
            )
    release = nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in release.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return release


def time_grading(assignment: str, count: int, jobs: int, course: Path = COURSE) -> dict:
    """Seconds to autograde ``count`` copies of the solution serially and with ``jobs`` processes.

    Works in scratch copies of the course; the instructor's folders are not touched.
    """
    import nbformat

    times = {}
    with tempfile.TemporaryDirectory() as scratch:
        for mode in ("serial", "parallel"):
            root = Path(scratch) / mode
            root.mkdir()
            shutil.copy2(course / "nbgrader_config.py", root)
            shutil.copytree(course / "source", root / "source")
            env = {**os.environ, "HOME": scratch, "JUPYTER_CONFIG_DIR": str(Path(scratch) / "jc")}
            _nbgrader(root, "generate_assignment", assignment, env=env)
            nb = _solution_submission(root, assignment)
            for index in range(count):
                folder = root / "submitted" / f"student{index:03d}" / assignment
                folder.mkdir(parents=True)
                nbformat.write(nb, folder / f"{assignment}.ipynb")
            start = time.perf_counter()
            if mode == "serial":
                _nbgrader(root, "autograde", assignment, env=env)
            else:
                autograde_parallel(assignment, root, jobs=jobs, env=env)
            times[mode] = time.perf_counter() - start
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vae_tutorial.course", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build-student-dist", help="write the student distribution")
    build.add_argument("out", help="a new folder")
    grade = commands.add_parser("autograde", help="autograde submissions in parallel")
    grade.add_argument("assignment")
    grade.add_argument("--jobs", type=int, default=None, help="processes at a time (default: CPUs)")
    grade.add_argument("--student", action="append", help="only this student (repeatable)")
    grade.add_argument("--force", action="store_true", help="regrade submissions already graded")
    grade.add_argument("--course", default=str(COURSE), help="the course folder (assignments/)")
    timing = commands.add_parser("time-grading", help="serial vs parallel grading time")
    timing.add_argument("assignment")
    timing.add_argument("--count", type=int, default=50, help="copies of the solution to grade")
    timing.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    if args.command == "time-grading":
        times = time_grading(args.assignment, args.count, args.jobs)
        print(
            f"{args.count} submissions of {args.assignment}: serial {times['serial']:.0f} s, "
            f"{args.jobs} jobs {times['parallel']:.0f} s (load average {os.getloadavg()[0]:.1f})"
        )
        return 0
    if args.command == "build-student-dist":
        print(f"student distribution written to {build_student_dist(args.out)}")
        return 0
    start = time.perf_counter()
    seconds = autograde_parallel(
        args.assignment, Path(args.course), args.jobs, args.student, args.force
    )
    total = time.perf_counter() - start
    print(f"autograded {len(seconds)} submission(s) of {args.assignment} in {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
