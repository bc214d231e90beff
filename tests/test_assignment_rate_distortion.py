"""Assignment 4 (rate, distortion and posterior collapse), end to end with nbgrader.

In a temporary copy of the course: ``nbgrader generate_assignment`` makes the student version; no
solution line and no hidden test reaches it; nbgrader's ``Validator`` passes the source notebook
and, inverted, finds that no test passes on the blank version; ``nbgrader autograde`` gives the
source solution full points, the blank notebook zero, and each common mistake zero on exactly the
tests that should catch it.

The course machinery (isolated nbgrader subprocesses, the gradebook, the notebook surgery) comes
from ``test_assignments``. Mistake submissions train for one epoch only, to keep this file fast: a
model trained that briefly does not reach the training targets, so every mistake also loses the
training test.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass, field

import nbformat
import pytest
from test_assignments import (
    COURSE,
    HIDDEN_MARKERS,
    SOLUTION_MARKERS,
    Course,
    cells_by_id,
    lines_between,
    nbgrader_meta,
    replace_once,
    strip_solution_markers,
)

ASSIGNMENT = "rate_distortion_and_collapse"
POINTS = 10
ONE_EPOCH = [("train", "epochs=40", "epochs=1")]
TRAINING = "test_training"


@dataclass
class Mistake:
    """``old`` replaced by ``new`` in solution cell ``cell`` (and the ``also`` edits); the test
    cells in ``loses`` must score zero, every other test keeps its points."""

    cell: str
    old: str
    new: str
    loses: set[str]
    also: list[tuple[str, str, str]] = field(default_factory=list)


MISTAKES = {
    "kl-total-instead-of-per-dimension": Mistake(
        "rate_per_dimension",
        "return 0.5 * (mu**2 + torch.exp(2 * log_sigma) - 1 - 2 * log_sigma)",
        "return 0.5 * (mu**2 + torch.exp(2 * log_sigma) - 1 - 2 * log_sigma).sum(-1)",
        {"test_rate_per_dimension", "test_beta_objective", TRAINING},
        ONE_EPOCH,
    ),
    "kl-log-variance": Mistake(
        "rate_per_dimension",
        "return 0.5 * (mu**2 + torch.exp(2 * log_sigma) - 1 - 2 * log_sigma)",
        "return 0.5 * (mu**2 + torch.exp(log_sigma) - 1 - log_sigma)",
        {"test_rate_per_dimension", "test_beta_objective", TRAINING},
        ONE_EPOCH,
    ),
    "pixel-mean-instead-of-sum": Mistake(
        "distortion",
        "return -model.decode(z).base_dist.log_prob(x).sum(-1)",
        "return -model.decode(z).base_dist.log_prob(x).mean(-1)",
        {"test_distortion", "test_beta_objective", TRAINING},
        ONE_EPOCH,
    ),
    "free-bits-on-the-total": Mistake(
        "beta_objective",
        "rate = torch.clamp(rate_per_dimension(mu, log_sigma), min=free_bits).sum(-1)",
        "rate = torch.clamp(rate_per_dimension(mu, log_sigma).sum(-1), min=free_bits)",
        {"test_beta_objective", TRAINING},
        ONE_EPOCH,
    ),
    "beta-on-the-distortion": Mistake(
        "beta_objective",
        "return -(distortion(model, x) + beta * rate)",
        "return -(beta * distortion(model, x) + rate)",
        {"test_beta_objective", TRAINING},
        ONE_EPOCH,
    ),
    "warmup-never-reaches-1": Mistake(
        "warmup_beta",
        "return min(1.0, step / warmup_steps)",
        "return min(1.0, step / (warmup_steps + 1))",
        {"test_warmup_beta", TRAINING},
        ONE_EPOCH,
    ),
    "warmup-without-cap": Mistake(
        "warmup_beta",
        "return min(1.0, step / warmup_steps)",
        "return step / warmup_steps",
        {"test_warmup_beta", TRAINING},
        ONE_EPOCH,
    ),
    # A correct notebook trained with the plain ELBO from the first step: it collapses.
    "no-cure": Mistake(
        "train",
        "beta = warmup_beta(step, 600)",
        "beta = 1.0",
        {TRAINING},
    ),
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    scratch = tmp_path_factory.mktemp("nbgrader")
    root = scratch / "course"
    (root / "source").mkdir(parents=True)
    shutil.copy(COURSE / "nbgrader_config.py", root)
    shutil.copytree(COURSE / "source" / ASSIGNMENT, root / "source" / ASSIGNMENT)
    course = Course(root, scratch)
    course.nbgrader("generate_assignment", ASSIGNMENT)
    return course


@pytest.fixture(scope="module")
def scores(course) -> dict:
    """{student: {test cell: (score, max score)}} from one ``nbgrader autograde`` call."""
    release = nbformat.read(course.release(ASSIGNMENT), as_version=4)
    answers = {
        grade_id: strip_solution_markers(cell.source)
        for grade_id, cell in cells_by_id(nbformat.read(course.source(ASSIGNMENT), 4)).items()
        if nbgrader_meta(cell).get("solution")
    }

    def filled(edits=()):
        nb = copy.deepcopy(release)
        cells = cells_by_id(nb)
        sources = dict(answers)
        for cell_id, old, new in edits:
            sources[cell_id] = replace_once(sources[cell_id], old, new, f"{ASSIGNMENT}/{cell_id}")
        for grade_id, source in sources.items():
            cells[grade_id].source = source
        return nb

    course.submit(ASSIGNMENT, "source", filled())
    course.submit(ASSIGNMENT, "blank", release)
    for name, mistake in MISTAKES.items():
        edits = [(mistake.cell, mistake.old, mistake.new), *mistake.also]
        course.submit(ASSIGNMENT, name, filled(edits))
    course.nbgrader("autograde", ASSIGNMENT)
    return {s: course.grades(ASSIGNMENT, s) for s in ["source", "blank", *MISTAKES]}


def test_source_metadata_and_points():
    nb = nbformat.read(COURSE / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    metas = [nbgrader_meta(c) for c in nb.cells]
    assert all(m["schema_version"] == 3 for m in metas if m)
    graded = [m for m in metas if m.get("grade")]
    assert graded and all(m["locked"] and not m["solution"] for m in graded)
    assert sum(m["points"] for m in graded) == POINTS
    assert f"**Points:** {POINTS} (" in nb.cells[0].source
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade"):
            assert HIDDEN_MARKERS[0] in cell.source, f"{meta['grade_id']} has no hidden tests"
        if meta.get("solution"):
            assert SOLUTION_MARKERS[0] in cell.source
        if meta and not meta.get("solution"):
            assert meta["locked"], meta["grade_id"]


def test_setup_imports_no_ready_answer():
    """No cell a student runs imports the package's answers to the questions."""
    nb = nbformat.read(COURSE / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or nbgrader_meta(cell).get("grade"):
            continue
        for line in cell.source.splitlines():
            if line.lstrip().startswith(("import ", "from ")):
                for answer in ("rate_distortion", "objectives", "reparam"):
                    assert answer not in line, f"{nbgrader_meta(cell).get('grade_id')}: {line}"


def test_student_version_hides_solutions_and_hidden_tests(course):
    source = nbformat.read(course.source(ASSIGNMENT), as_version=4)
    release = nbformat.read(course.release(ASSIGNMENT), as_version=4)
    released_lines = {line.strip() for c in release.cells for line in c.source.splitlines()}
    released_text = "\n".join(c.source for c in release.cells)
    for begin, end in (SOLUTION_MARKERS, HIDDEN_MARKERS):
        secret, public = set(), set()
        for cell in source.cells:
            inside, outside = lines_between(cell.source, begin, end)
            secret.update(line for line in inside if line and not line.startswith("#"))
            public.update(outside)
        leaked = sorted((secret - public) & released_lines)
        assert not leaked, f"lines that students must not see: {leaked}"
        assert begin not in released_text and end not in released_text
    for grade_id, cell in cells_by_id(release).items():
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            assert "raise NotImplementedError()" in cell.source, grade_id
        if meta.get("locked") or meta.get("grade"):
            assert cell.metadata.get("editable") is False, grade_id
    assert not any(c.get("outputs") for c in release.cells if c.cell_type == "code")


def test_validator_passes_source(course):
    results = course.validate(course.source(ASSIGNMENT), invert=False)
    assert results == {}, json.dumps(results, indent=1)[:4000]


def test_validator_inverted_fails_every_test_of_blank_version(course):
    results = course.validate(course.release(ASSIGNMENT), invert=True)
    assert results == {}, json.dumps(results, indent=1)[:4000]


def test_autograde_source_full_blank_zero(scores):
    assert sum(top for _, top in scores["source"].values()) == POINTS
    assert {name: s for name, (s, top) in scores["source"].items() if s != top} == {}
    assert {name: s for name, (s, _) in scores["blank"].items() if s != 0} == {}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_autograde_each_mistake_loses_the_matching_tests(scores, mistake):
    got = scores[mistake]
    zero = {name for name, (score, _) in got.items() if score == 0}
    full = {name for name, (score, top) in got.items() if score == top}
    expected = MISTAKES[mistake].loses
    assert zero == expected, f"{mistake}: tests at zero {sorted(zero)}, expected {sorted(expected)}"
    assert full == set(got) - expected
