"""The nbgrader course in assignments/, end to end, as an instructor would run it.

For each assignment, in a temporary copy of the course: ``nbgrader generate_assignment`` makes the
student version; nbgrader's ``Validator`` passes the source notebook and, inverted, finds that no
test passes on the blank student version; no solution line and no hidden test reaches students;
``nbgrader autograde`` gives the source solution full points, the blank notebook zero, and each
common mistake zero on exactly the tests that should catch it (scores read from the gradebook).

nbgrader runs in subprocesses whose HOME and Jupyter folders point into the temporary directory,
so no user or system configuration leaks in. All submissions of an assignment are graded by one
``nbgrader autograde`` call.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.validator import Validator
from traitlets.config.loader import PyFileConfigLoader

COURSE = Path(__file__).resolve().parents[1] / "assignments"
COURSE_ID = "vae-tutorial"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
DATA_SWITCH = "VAE_TUTORIAL_MNIST"


@dataclass
class Mistake:
    """A common mistake: ``old`` replaced by ``new`` in the solution cell ``cell``.

    loses: the test cells that must score zero; every other test keeps its full points.
    """

    cell: str
    old: str
    new: str
    loses: set[str]
    also: list[tuple[str, str, str]] = field(default_factory=list)  # more (cell, old, new)


# Assignment 2's mistakes are trained for one epoch only (its training test fails for all of
# them anyway: a wrong loss does not reach the target), to keep this file fast.
ONE_EPOCH = [("train", "epochs=10", "epochs=1")]

ASSIGNMENTS = {
    "gaussians_and_reparameterization": {
        "points": 10,
        "mistakes": {
            "sigma-as-log-sigma": Mistake(
                "reparameterize",
                "return mu + torch.exp(log_sigma) * eps",
                "return mu + log_sigma * eps",
                {"test_reparameterize", "test_draw_samples"},
            ),
            "log-variance-as-log-sigma": Mistake(
                "reparameterize",
                "return mu + torch.exp(log_sigma) * eps",
                "return mu + torch.exp(0.5 * log_sigma) * eps",
                {"test_reparameterize", "test_draw_samples"},
            ),
            "sample-without-trick": Mistake(
                "draw_samples",
                "return reparameterize(mu, log_sigma, eps)",
                (
                    "return torch.normal(mu.expand_as(eps), torch.exp(log_sigma).expand_as(eps),"
                    " generator=generator)"
                ),
                {"test_draw_samples"},
            ),
            "no-log-determinant": Mistake(
                "log_q",
                "return (log_p_eps - log_sigma).sum(-1)",
                "return log_p_eps.sum(-1)",
                {"test_log_q"},
            ),
            "kl-wrong-sign": Mistake(
                "kl",
                "return 0.5 * (mu**2",
                "return -0.5 * (mu**2",
                {"test_kl"},
            ),
            "kl-log-variance": Mistake(
                "kl",
                "torch.exp(2 * log_sigma) - 1 - 2 * log_sigma",
                "torch.exp(log_sigma) - 1 - log_sigma",
                {"test_kl"},
            ),
        },
    },
    "train_your_own_vae": {
        "points": 10,
        "mistakes": {
            "pixel-mean": Mistake(
                "bernoulli_log_likelihood",
                'reduction="none").sum(-1)',
                'reduction="none").mean(-1)',
                {"test_bernoulli_log_likelihood", "test_negative_elbo", "test_training"},
                ONE_EPOCH,
            ),
            "sigmoid-twice": Mistake(
                "bernoulli_log_likelihood",
                "F.binary_cross_entropy_with_logits(logits, x",
                "F.binary_cross_entropy_with_logits(torch.sigmoid(logits), x",
                {"test_bernoulli_log_likelihood", "test_negative_elbo", "test_training"},
                ONE_EPOCH,
            ),
            "kl-wrong-sign": Mistake(
                "negative_elbo",
                "return kl - log_px_given_z",
                "return -kl - log_px_given_z",
                {"test_negative_elbo", "test_training"},
                ONE_EPOCH,
            ),
            "batch-mean": Mistake(
                "negative_elbo",
                "return kl - log_px_given_z",
                "return (kl - log_px_given_z).mean()",
                {"test_negative_elbo", "test_training"},
                ONE_EPOCH,
            ),
            "minimises-elbo": Mistake(
                "train",
                "objective=lambda model, x: -negative_elbo(model, x)",
                "objective=lambda model, x: negative_elbo(model, x)",
                {"test_training"},
                ONE_EPOCH,
            ),
        },
    },
    "how_good_is_my_model": {
        "points": 10,
        "mistakes": {
            "no-minus-log-L": Mistake(
                "log_mean_exp",
                "return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])",
                "return torch.logsumexp(log_w, dim=dim)",
                {"test_log_mean_exp", "test_importance_sampling", "test_iw_bound"},
            ),
            "average-before-log": Mistake(
                "log_mean_exp",
                "return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])",
                "return torch.log(torch.exp(log_w).mean(dim))",
                {"test_log_mean_exp", "test_importance_sampling", "test_iw_bound"},
            ),
            "estimator-no-minus-log-L": Mistake(
                "importance_sampling",
                "return log_mean_exp(log_importance_weights(model, x, num_samples), dim=0)",
                "return torch.logsumexp(log_importance_weights(model, x, num_samples), dim=0)",
                {"test_importance_sampling"},
            ),
            "estimator-average-before-log": Mistake(
                "importance_sampling",
                "return log_mean_exp(log_importance_weights(model, x, num_samples), dim=0)",
                "return torch.exp(log_importance_weights(model, x, num_samples)).mean(0).log()",
                {"test_importance_sampling"},
            ),
            "weights-upside-down": Mistake(
                "importance_sampling",
                "model.decode(z).log_prob(x) + model.prior().log_prob(z) - q.log_prob(z)",
                "q.log_prob(z) - model.decode(z).log_prob(x) - model.prior().log_prob(z)",
                {"test_importance_sampling", "test_iw_bound"},
            ),
            "bound-averages-log-weights": Mistake(
                "iw_bound",
                "return log_mean_exp(log_w, dim=1).mean(0)",
                "return log_w.mean(dim=(0, 1))",
                {"test_iw_bound"},
            ),
        },
    },
}


# --------------------------------------------------------------------------- helpers


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def cells_by_id(nb) -> dict:
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells if nbgrader_meta(c).get("grade_id")}


def lines_between(source: str, begin: str, end: str) -> tuple[list[str], list[str]]:
    """Split a cell's lines into (inside begin/end regions, outside), markers dropped."""
    inside, outside, active = [], [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == begin:
            active = True
        elif stripped == end:
            active = False
        elif active:
            inside.append(stripped)
        else:
            outside.append(stripped)
    return inside, outside


def strip_solution_markers(source: str) -> str:
    """A student's answer: the source solution without nbgrader's markers."""
    kept = [line for line in source.splitlines() if line.strip() not in SOLUTION_MARKERS]
    return "\n".join(kept)


def replace_once(source: str, old: str, new: str, where: str) -> str:
    assert source.count(old) == 1, f"{where}: expected {old!r} exactly once in the solution"
    return source.replace(old, new)


@contextmanager
def environ(values: dict):
    """Temporarily set environment variables (None: unset them) for the Validator's kernels."""
    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Course:
    """A temporary copy of the course with isolated nbgrader/Jupyter settings."""

    def __init__(self, root: Path, scratch: Path):
        self.root = root
        self.isolated = {
            "HOME": str(scratch / "home"),
            "JUPYTER_CONFIG_DIR": str(scratch / "jupyter-config"),
            "JUPYTER_DATA_DIR": str(scratch / "jupyter-data"),
            "JUPYTER_RUNTIME_DIR": str(scratch / "jupyter-runtime"),
            "IPYTHONDIR": str(scratch / "ipython"),
            "MPLCONFIGDIR": str(scratch / "matplotlib"),
            "MPLBACKEND": "agg",
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
            # One thread per kernel: on a busy machine, torch's spinning worker threads make the
            # training cell many times slower; on an idle one, one thread costs little.
            "OMP_NUM_THREADS": "1",
            # nbgrader runs the `alembic` command when it creates a gradebook: it must find this
            # environment's copy even when the environment is not activated.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        for folder in self.isolated.values():
            if folder.startswith(str(scratch)):
                Path(folder).mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, **self.isolated}
        # The lessons' data switch must not send the graders to a 60k download.
        self.env.pop(DATA_SWITCH, None)
        self.config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
        self.scores: dict[str, dict] = {}

    def nbgrader(self, *args: str, timeout: float = 1500) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stderr[-4000:]}"
        return result

    def source(self, assignment: str) -> Path:
        return self.root / "source" / assignment / f"{assignment}.ipynb"

    def release(self, assignment: str) -> Path:
        return self.root / "release" / assignment / f"{assignment}.ipynb"

    def validate(self, path: Path, invert: bool) -> dict:
        with environ({**self.isolated, DATA_SWITCH: None}):
            return Validator(config=self.config, invert=invert).validate(str(path))

    def submit(self, assignment: str, student: str, nb) -> None:
        folder = self.root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{assignment}.ipynb")

    def grades(self, assignment: str, student: str) -> dict[str, tuple[float, float]]:
        url = f"sqlite:///{self.root / 'gradebook.db'}"
        with Gradebook(url, course_id=COURSE_ID) as gradebook:
            notebook = gradebook.find_submission_notebook(assignment, assignment, student)
            return {g.name: (g.score, g.max_score) for g in notebook.grades}


def make_submissions(course: Course, assignment: str) -> None:
    """The source solution, the blank student version and one notebook per mistake.

    Each is made from the released notebook by filling in its solution cells, as a student would.
    """
    release = nbformat.read(course.release(assignment), as_version=4)
    answers = {
        grade_id: strip_solution_markers(cell.source)
        for grade_id, cell in cells_by_id(nbformat.read(course.source(assignment), 4)).items()
        if nbgrader_meta(cell).get("solution")
    }

    def filled(edits=()):
        nb = copy.deepcopy(release)
        cells = cells_by_id(nb)
        sources = dict(answers)
        for cell_id, old, new in edits:
            sources[cell_id] = replace_once(sources[cell_id], old, new, f"{assignment}/{cell_id}")
        for grade_id, source in sources.items():
            cells[grade_id].source = source
        return nb

    course.submit(assignment, "source", filled())
    course.submit(assignment, "blank", release)
    for name, mistake in ASSIGNMENTS[assignment]["mistakes"].items():
        edits = [(mistake.cell, mistake.old, mistake.new), *mistake.also]
        course.submit(assignment, name, filled(edits))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    scratch = tmp_path_factory.mktemp("nbgrader")
    root = scratch / "course"
    root.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", root)
    shutil.copytree(COURSE / "source", root / "source")
    course = Course(root, scratch)
    for assignment in ASSIGNMENTS:
        course.nbgrader("generate_assignment", assignment)
    return course


def autograded(course: Course, assignment: str) -> dict:
    """{student: {test cell: (score, max score)}}, autograded once per assignment."""
    if assignment not in course.scores:
        make_submissions(course, assignment)
        course.nbgrader("autograde", assignment)
        students = ["source", "blank", *ASSIGNMENTS[assignment]["mistakes"]]
        course.scores[assignment] = {s: course.grades(assignment, s) for s in students}
    return course.scores[assignment]


# --------------------------------------------------------------------------- tests

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_metadata_and_points(assignment):
    """Schema-3 metadata; the points in the cells add up to the points the notebook announces."""
    nb = nbformat.read(COURSE / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    metas = [nbgrader_meta(c) for c in nb.cells]
    assert all(m["schema_version"] == 3 for m in metas if m)
    graded = [m for m in metas if m.get("grade")]
    assert graded and all(m["locked"] and not m["solution"] for m in graded)
    assert any(m.get("solution") for m in metas)
    total = sum(m["points"] for m in graded)
    assert total == ASSIGNMENTS[assignment]["points"]
    assert f"**Points:** {total} (" in nb.cells[0].source
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade"):
            assert HIDDEN_MARKERS[0] in cell.source, f"{meta['grade_id']} has no hidden tests"
        if meta.get("solution"):
            assert SOLUTION_MARKERS[0] in cell.source
        # Every cell a student is not meant to edit is locked.
        if not meta.get("solution") and meta:
            assert meta["locked"], meta["grade_id"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_version_hides_solutions_and_hidden_tests(course, assignment):
    source = nbformat.read(course.source(assignment), as_version=4)
    release = nbformat.read(course.release(assignment), as_version=4)
    released_lines = {line.strip() for c in release.cells for line in c.source.splitlines()}
    released_text = "\n".join(c.source for c in release.cells)
    for begin, end in (SOLUTION_MARKERS, HIDDEN_MARKERS):
        secret, public = set(), set()
        for cell in source.cells:
            inside, outside = lines_between(cell.source, begin, end)
            secret.update(line for line in inside if line and not line.startswith("#"))
            public.update(outside)
        leaked = sorted((secret - public) & released_lines)
        assert not leaked, f"{assignment}: lines that students must not see: {leaked}"
        assert begin not in released_text and end not in released_text
    cells = cells_by_id(release)
    for grade_id, cell in cells.items():
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            assert "raise NotImplementedError()" in cell.source
        if meta.get("locked") or meta.get("grade"):
            # nbgrader locks these cells for JupyterLab: students cannot edit or delete them.
            assert cell.metadata.get("editable") is False, grade_id
            assert cell.metadata.get("deletable") is False, grade_id
    assert set(cells) == set(cells_by_id(source))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_validator_passes_source(course, assignment):
    # The `nbgrader validate` command exits 0 even when tests fail; the Python API says what failed.
    results = course.validate(course.source(assignment), invert=False)
    assert results == {}, json.dumps(results, indent=1)[:4000]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_validator_inverted_fails_every_test_of_blank_version(course, assignment):
    results = course.validate(course.release(assignment), invert=True)
    assert results == {}, json.dumps(results, indent=1)[:4000]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_autograde_source_full_blank_zero(course, assignment):
    scores = autograded(course, assignment)
    total = ASSIGNMENTS[assignment]["points"]
    assert sum(max_score for _, max_score in scores["source"].values()) == total
    assert {name: score for name, (score, top) in scores["source"].items() if score != top} == {}
    assert {name: score for name, (score, _) in scores["blank"].items() if score != 0} == {}


@pytest.mark.parametrize(
    "assignment, mistake",
    [(a, m) for a, spec in ASSIGNMENTS.items() for m in spec["mistakes"]],
)
def test_autograde_each_mistake_loses_the_matching_tests(course, assignment, mistake):
    scores = autograded(course, assignment)[mistake]
    zero = {name for name, (score, _) in scores.items() if score == 0}
    full = {name for name, (score, top) in scores.items() if score == top}
    expected = ASSIGNMENTS[assignment]["mistakes"][mistake].loses
    assert zero == expected, f"{mistake}: tests at zero {sorted(zero)}, expected {sorted(expected)}"
    assert full == set(scores) - expected


def test_release_notebooks_are_plain_jupyter(course):
    """The student version opens in JupyterLab as is: valid nbformat, the Python 3 kernel."""
    for assignment in ASSIGNMENTS:
        nb = nbformat.read(course.release(assignment), as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["kernelspec"]["name"] == "python3"
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
        assert not re.search(r"/work/|/tmp/", json.dumps(nb)), "no machine paths in notebooks"


def test_exchange_release_fetch_submit_collect(course, tmp_path):
    """The JupyterHub route through nbgrader's exchange folder (here a temporary one).

    Runs last: the collected notebook is not autograded here (the tests above grade others).
    """
    assignment = "gaussians_and_reparameterization"
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)  # nbgrader requires an exchange that every user can read and write
    student_dir = tmp_path / "student"
    student_dir.mkdir()
    where = [f"--Exchange.root={exchange}", f"--CourseDirectory.course_id={COURSE_ID}"]
    course.nbgrader("release_assignment", assignment, *where)

    def as_student(*args):
        result = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args, *where],
            cwd=student_dir,
            env=course.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-4000:]

    as_student("fetch_assignment", assignment)
    fetched = student_dir / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(fetched, as_version=4)
    cells = cells_by_id(nb)
    cells["kl"].source = cells["kl"].source.replace("raise NotImplementedError()", "return 0")
    nbformat.write(nb, fetched)
    as_student("submit", assignment)

    before = set(course.root.glob(f"submitted/*/{assignment}"))
    course.nbgrader("collect", assignment, *where)
    collected = set(course.root.glob(f"submitted/*/{assignment}")) - before
    assert len(collected) == 1, f"expected one collected submission, got {sorted(collected)}"
    (folder,) = collected
    submitted = nbformat.read(folder / f"{assignment}.ipynb", as_version=4)
    assert "return 0" in cells_by_id(submitted)["kl"].source
    assert (folder / "timestamp.txt").exists()
