"""The nbgrader course in assignments/, end to end, as an instructor would run it.

For every assignment found under assignments/source, in a temporary copy of the course:
``nbgrader generate_assignment`` makes the student version; nbgrader's ``Validator`` passes the
source notebook and, inverted, finds that no test passes on the blank student version; no
solution line, hidden test, reference implementation or rubric reaches students; the source
solution earns full points and the blank notebook zero when graded in parallel
(``vae_tutorial.course.autograde_parallel``), and serially the same (assignment 2); the feedback
HTML shows no hidden test.

For the assignments with a list of common mistakes: each mistake scores zero on exactly the tests
that should catch it (a mistake is charged once), and the student version's *visible* tests already
fail on it with a message that names it. The student distribution holds what students need and no
answer.

nbgrader runs in subprocesses whose HOME and Jupyter folders point into the temporary directory,
so no user or system configuration leaks in.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader.api import Gradebook
from nbgrader.validator import Validator
from traitlets.config.loader import PyFileConfigLoader

from vae_tutorial.course import assignment_names, autograde_parallel, build_student_dist

COURSE = Path(__file__).resolve().parents[1] / "assignments"
COURSE_ID = "vae-tutorial"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
DATA_SWITCH = "VAE_TUTORIAL_MNIST"


@dataclass
class Mistake:
    """A common mistake: ``old`` replaced by ``new`` in the solution cell ``cell``.

    loses: the test cells that must score zero when graded; every other test keeps its points.
    says: words the failing *visible* test's message must contain (it names the mistake), checked
    on the student version, where hidden tests are absent.
    """

    cell: str
    old: str
    new: str
    loses: set[str]
    says: str
    also: list[tuple[str, str, str]] = field(default_factory=list)  # more (cell, old, new)


# Most of assignment 2's mistakes are trained for one epoch only, to keep this file fast. Grading
# retrains with the submission's settings, so one epoch also misses the training target: those
# mistakes lose test_training too. The one trained for the full 10 epochs (pixel-mean) shows that a
# mistake in Q1 costs Q1 only (in the student's own run, their model collapses).
# Assignment 4's mistakes in the functions likewise train for 1 of its 40 epochs, except the one
# that shows a Q1 mistake charged in Q1 only (kl-from-torch-distributions, 40 epochs).
ONE_EPOCH = [("train", "epochs=10", "epochs=1")]
A4_ONE_EPOCH = [("train", "epochs=40", "epochs=1")]
A2_NO_OBJECTIVE = "    objective=lambda model, x: -negative_elbo(model, x),\n"
Z_LINE = "z = mu + torch.exp(log_sigma) * torch.randn_like(mu)"
TRAINING = "test_training"

ASSIGNMENTS = {
    "gaussians_and_reparameterization": {
        "points": 10,
        "mistakes": {
            "sigma-as-log-sigma": Mistake(
                "reparameterize",
                "return mu + torch.exp(log_sigma) * eps",
                "return mu + log_sigma * eps",
                {"test_reparameterize"},
                "log_sigma was used as sigma",
            ),
            "log-variance-as-log-sigma": Mistake(
                "reparameterize",
                "return mu + torch.exp(log_sigma) * eps",
                "return mu + torch.exp(0.5 * log_sigma) * eps",
                {"test_reparameterize"},
                "log-variance",
            ),
            "sample-without-trick": Mistake(
                "draw_samples",
                "return reparameterize(mu, log_sigma, eps)",
                (
                    "return torch.normal(mu.expand_as(eps), torch.exp(log_sigma).expand_as(eps),"
                    " generator=generator)"
                ),
                {"test_draw_samples"},
                "no gradient flows back",
            ),
            "sample-with-torch-distributions": Mistake(
                "draw_samples",
                "return reparameterize(mu, log_sigma, eps)",
                "return torch.distributions.Normal(mu, log_sigma.exp()).rsample((num_samples,))",
                {"test_draw_samples"},
                "torch.distributions",
            ),
            "global-seed-not-generator": Mistake(
                "draw_samples",
                "generator=generator, dtype",
                "dtype",
                {"test_draw_samples"},
                "generator",
                [
                    (
                        "draw_samples",
                        "    eps = torch.randn(",
                        "    torch.manual_seed(0)\n    eps = torch.randn(",
                    )
                ],
            ),
            "noise-without-batch-shape": Mistake(
                "draw_samples",
                "(num_samples, *mu.shape)",
                "(num_samples, mu.shape[-1])",
                {"test_draw_samples"},
                "(num_samples, *mu.shape)",
            ),
            "no-log-determinant": Mistake(
                "log_q",
                "return (log_p_eps - log_sigma).sum(-1)",
                "return log_p_eps.sum(-1)",
                {"test_log_q"},
                "log-determinant is missing",
            ),
            "log-q-sums-dimension-1": Mistake(
                "log_q",
                "return (log_p_eps - log_sigma).sum(-1)",
                "return (log_p_eps - log_sigma).sum(dim=1)",
                {"test_log_q"},
                "last (latent) dimension",
            ),
            "kl-wrong-sign": Mistake(
                "kl", "return 0.5 * (mu**2", "return -0.5 * (mu**2", {"test_kl"}, "sign is flipped"
            ),
            "kl-log-variance": Mistake(
                "kl",
                "torch.exp(2 * log_sigma) - 1 - 2 * log_sigma",
                "torch.exp(log_sigma) - 1 - log_sigma",
                {"test_kl"},
                "log-variance",
            ),
            "kl-sums-dimension-1": Mistake(
                "kl", ").sum(-1)", ").sum(dim=1)", {"test_kl"}, "last (latent) dimension"
            ),
            "kl-from-torch-distributions": Mistake(
                "kl",
                "return 0.5 * (mu**2 + torch.exp(2 * log_sigma) - 1 - 2 * log_sigma).sum(-1)",
                (
                    "return torch.distributions.kl_divergence(torch.distributions.Normal(mu, "
                    "log_sigma.exp()), torch.distributions.Normal(0.0, 1.0)).sum(-1)"
                ),
                {"test_kl"},
                "torch.distributions",
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
                {"test_bernoulli_log_likelihood"},
                "averaged instead of summed",
            ),
            "sigmoid-twice": Mistake(
                "bernoulli_log_likelihood",
                "F.binary_cross_entropy_with_logits(logits, x",
                "F.binary_cross_entropy_with_logits(torch.sigmoid(logits), x",
                {"test_bernoulli_log_likelihood", TRAINING},
                "sigmoid was applied twice",
                ONE_EPOCH,
            ),
            "likelihood-sums-dimension-1": Mistake(
                "bernoulli_log_likelihood",
                'reduction="none").sum(-1)',
                'reduction="none").sum(dim=1)',
                {"test_bernoulli_log_likelihood", TRAINING},
                "last (pixel) dimension",
                ONE_EPOCH,
            ),
            "likelihood-from-torch-distributions": Mistake(
                "bernoulli_log_likelihood",
                '-F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)',
                "torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(-1)",
                {"test_bernoulli_log_likelihood", TRAINING},
                "torch.distributions",
                ONE_EPOCH,
            ),
            "kl-wrong-sign": Mistake(
                "negative_elbo",
                "return kl - log_px_given_z",
                "return -kl - log_px_given_z",
                {"test_negative_elbo", TRAINING},
                "wrong sign",
                ONE_EPOCH,
            ),
            "batch-mean": Mistake(
                "negative_elbo",
                "return kl - log_px_given_z",
                "return (kl - log_px_given_z).mean()",
                {"test_negative_elbo", TRAINING},
                "one value per image",
                ONE_EPOCH,
            ),
            "detached-sample": Mistake(
                "negative_elbo",
                Z_LINE,
                f"z = ({Z_LINE[4:]}).detach()",
                {"test_negative_elbo", TRAINING},
                "no gradient reaches the encoder",
                ONE_EPOCH,
            ),
            "sample-without-trick": Mistake(
                "negative_elbo",
                Z_LINE,
                "z = torch.distributions.Normal(mu, torch.exp(log_sigma)).sample()",
                {"test_negative_elbo", TRAINING},
                "no gradient reaches the encoder",
                ONE_EPOCH,
            ),
            "minimises-elbo": Mistake(
                "train",
                "objective=lambda model, x: -negative_elbo(model, x)",
                "objective=lambda model, x: negative_elbo(model, x)",
                {TRAINING},
                "maximises",
                ONE_EPOCH,
            ),
            "fit-without-objective": Mistake(
                "train", A2_NO_OBJECTIVE, "", {TRAINING}, "without objective", ONE_EPOCH
            ),
            "too-few-epochs": Mistake(
                "train", "epochs=10", "epochs=1", {TRAINING}, "below the target"
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
                {"test_log_mean_exp"},
                "- log L is missing",
            ),
            "average-before-log": Mistake(
                "log_mean_exp",
                "return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])",
                "return torch.log(torch.exp(log_w).mean(dim))",
                {"test_log_mean_exp"},
                "averaged before the log",
            ),
            "reduces-dimension-0": Mistake(
                "log_mean_exp",
                "return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])",
                "return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])",
                {"test_log_mean_exp"},
                "dimension `dim`",
            ),
            "estimator-no-minus-log-L": Mistake(
                "importance_sampling",
                "return log_mean_exp(log_importance_weights(model, x, num_samples), dim=0)",
                "return torch.logsumexp(log_importance_weights(model, x, num_samples), dim=0)",
                {"test_importance_sampling"},
                "log L is missing",
            ),
            "estimator-average-before-log": Mistake(
                "importance_sampling",
                "return log_mean_exp(log_importance_weights(model, x, num_samples), dim=0)",
                "return torch.exp(log_importance_weights(model, x, num_samples)).mean(0).log()",
                {"test_importance_sampling"},
                "not finite",
            ),
            "weights-upside-down": Mistake(
                "importance_sampling",
                "model.decode(z).log_prob(x) + model.prior().log_prob(z) - q.log_prob(z)",
                "q.log_prob(z) - model.decode(z).log_prob(x) - model.prior().log_prob(z)",
                {"test_importance_sampling"},
                "upside down",
            ),
            "weights-from-the-package": Mistake(
                "importance_sampling",
                "    q = model.encode(x)\n",
                (
                    "    from vae_tutorial.objectives import log_importance_weights as w\n"
                    "    return w(model, x, num_samples)\n    q = model.encode(x)\n"
                ),
                {"test_importance_sampling"},
                "vae_tutorial.objectives",
            ),
            "bound-averages-log-weights": Mistake(
                "iw_bound",
                "return log_mean_exp(log_w, dim=1).mean(0)",
                "return log_w.mean(dim=(0, 1))",
                {"test_iw_bound"},
                "averaged the log weights",
            ),
            "bound-no-minus-log-k": Mistake(
                "iw_bound",
                "return log_mean_exp(log_w, dim=1).mean(0)",
                "return torch.logsumexp(log_w, dim=1).mean(0)",
                {"test_iw_bound"},
                "log k",
            ),
        },
    },
    "rate_distortion_and_collapse": {
        "points": 10,
        "mistakes": {
            "kl-total-instead-of-per-dimension": Mistake(
                "rate_per_dimension",
                "return 0.5 * (mu**2 + torch.exp(2 * log_sigma) - 1 - 2 * log_sigma)",
                "return 0.5 * (mu**2 + torch.exp(2 * log_sigma) - 1 - 2 * log_sigma).sum(-1)",
                {"test_rate_per_dimension", TRAINING},
                "summed over the latent dimensions",
                A4_ONE_EPOCH,
            ),
            "kl-log-variance": Mistake(
                "rate_per_dimension",
                "return 0.5 * (mu**2 + torch.exp(2 * log_sigma) - 1 - 2 * log_sigma)",
                "return 0.5 * (mu**2 + torch.exp(log_sigma) - 1 - log_sigma)",
                {"test_rate_per_dimension", TRAINING},
                "log-variance",
                A4_ONE_EPOCH,
            ),
            "pixel-mean-instead-of-sum": Mistake(
                "distortion",
                "return -model.decode(z).base_dist.log_prob(x).sum(-1)",
                "return -model.decode(z).base_dist.log_prob(x).mean(-1)",
                {"test_distortion", TRAINING},
                "averaged instead of summed",
                A4_ONE_EPOCH,
            ),
            "free-bits-on-the-total": Mistake(
                "beta_objective",
                "rate = torch.clamp(rate_per_dimension(mu, log_sigma), min=free_bits).sum(-1)",
                "rate = torch.clamp(rate_per_dimension(mu, log_sigma).sum(-1), min=free_bits)",
                {"test_beta_objective", TRAINING},
                "applied to the total rate",
                A4_ONE_EPOCH,
            ),
            "beta-on-the-distortion": Mistake(
                "beta_objective",
                "return -(distortion(model, x) + beta * rate)",
                "return -(beta * distortion(model, x) + rate)",
                {"test_beta_objective", TRAINING},
                "beta weights the distortion",
                A4_ONE_EPOCH,
            ),
            "warmup-never-reaches-1": Mistake(
                "warmup_beta",
                "return min(1.0, step / warmup_steps)",
                "return min(1.0, step / (warmup_steps + 1))",
                {"test_warmup_beta", TRAINING},
                "never reaches 1",
                A4_ONE_EPOCH,
            ),
            "warmup-without-cap": Mistake(
                "warmup_beta",
                "return min(1.0, step / warmup_steps)",
                "return step / warmup_steps",
                {"test_warmup_beta", TRAINING},
                "exceeds 1",
                A4_ONE_EPOCH,
            ),
            "kl-from-torch-distributions": Mistake(
                "rate_per_dimension",
                "return 0.5 * (mu**2 + torch.exp(2 * log_sigma) - 1 - 2 * log_sigma)",
                (
                    "return torch.distributions.kl_divergence(torch.distributions.Normal(mu, "
                    "log_sigma.exp()), torch.distributions.Normal(0.0, 1.0))"
                ),
                {"test_rate_per_dimension"},
                "torch.distributions.kl_divergence",
            ),
            "warmup-from-the-package": Mistake(
                "warmup_beta",
                "    return min(1.0, step / warmup_steps)",
                (
                    "    from vae_tutorial.rate_distortion import warmup_beta as w\n"
                    "    return w(step, warmup_steps)"
                ),
                {"test_warmup_beta"},
                "vae_tutorial.rate_distortion",
            ),
            # A correct notebook trained with the plain ELBO from the first step: it collapses.
            "no-cure": Mistake(
                "train", "beta = warmup_beta(step, 600)", "beta = 1.0", {TRAINING}, "collapsed"
            ),
        },
    },
}
DISCOVERED = assignment_names(COURSE)
# Students whose grading is not a mistake: the source solution and the untouched student version.
BASELINE = ("source", "blank")
# Each answer read by the instructor holds a model answer and a rubric, in the source only.
RUBRIC = "**Rubric (instructor version only).**"


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
        self.scratch = scratch
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
        self.visible: dict[str, dict] = {}

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
            # The autograded test cells; answers read by the instructor are graded by hand.
            return {
                g.name: (g.score, g.max_score)
                for g in notebook.grades
                if getattr(g.cell, "cell_type", "code") == "code"
            }


def mistakes_of(assignment: str) -> dict[str, Mistake]:
    return ASSIGNMENTS.get(assignment, {}).get("mistakes", {})


def filled(course: Course, assignment: str, edits=()) -> nbformat.NotebookNode:
    """The released notebook with its solution cells filled in from the source, as a student would,
    after the edits (cell, old, new) to those answers."""
    nb = nbformat.read(course.release(assignment), as_version=4)
    sources = {
        grade_id: strip_solution_markers(cell.source)
        for grade_id, cell in cells_by_id(nbformat.read(course.source(assignment), 4)).items()
        if nbgrader_meta(cell).get("solution") and cell.cell_type == "code"
    }
    for cell_id, old, new in edits:
        sources[cell_id] = replace_once(sources[cell_id], old, new, f"{assignment}/{cell_id}")
    cells = cells_by_id(nb)
    for grade_id, source in sources.items():
        cells[grade_id].source = source
    return nb


def edits_of(mistake: Mistake) -> list[tuple[str, str, str]]:
    return [(mistake.cell, mistake.old, mistake.new), *mistake.also]


def make_submissions(course: Course, assignment: str) -> None:
    """The source solution, the blank student version and one notebook per mistake."""
    course.submit(assignment, "source", filled(course, assignment))
    course.submit(assignment, "blank", nbformat.read(course.release(assignment), as_version=4))
    for name, mistake in mistakes_of(assignment).items():
        course.submit(assignment, name, filled(course, assignment, edits_of(mistake)))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    scratch = tmp_path_factory.mktemp("nbgrader")
    root = scratch / "course"
    root.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", root)
    shutil.copytree(COURSE / "source", root / "source")
    course = Course(root, scratch)
    for assignment in DISCOVERED:
        course.nbgrader("generate_assignment", assignment)
    return course


def autograded(course: Course, assignment: str) -> dict:
    """{student: {test cell: (score, max score)}}, autograded in parallel, then feedback made.

    Graded once per assignment; if that fails, every later test of the assignment fails with the
    same cause instead of tripping over the half-made submissions.
    """
    if assignment not in course.scores:
        try:
            make_submissions(course, assignment)
            autograde_parallel(assignment, course.root, jobs=2, env=course.env)
            course.nbgrader("generate_feedback", assignment)
            students = [*BASELINE, *mistakes_of(assignment)]
            course.scores[assignment] = {s: course.grades(assignment, s) for s in students}
        except Exception as error:
            course.scores[assignment] = error
            raise
    scores = course.scores[assignment]
    if isinstance(scores, Exception):
        pytest.fail(f"grading {assignment} failed in an earlier test: {str(scores)[:2000]}")
    return scores


# --------------------------------------------------------------------------- tests

pytestmark = pytest.mark.slow


def test_every_assignment_is_found():
    assert set(ASSIGNMENTS) <= set(DISCOVERED), "an assignment with mistakes has no source"


@pytest.mark.parametrize("assignment", DISCOVERED)
def test_source_metadata_and_points(assignment):
    """Schema-3 metadata; the points in the cells add up to the points the notebook announces."""
    nb = nbformat.read(COURSE / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    metas = [nbgrader_meta(c) for c in nb.cells]
    assert all(m["schema_version"] == 3 for m in metas if m)
    tests = [m for m, c in zip(metas, nb.cells) if m.get("grade") and c.cell_type == "code"]
    assert tests and all(m["locked"] and not m["solution"] for m in tests)
    assert any(m.get("solution") for m in metas)
    total = sum(m["points"] for m in metas if m.get("grade"))
    if assignment in ASSIGNMENTS:
        assert sum(m["points"] for m in tests) == ASSIGNMENTS[assignment]["points"]
    assert f"**Points:** {total} (" in nb.cells[0].source
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade") and cell.cell_type == "code":
            assert HIDDEN_MARKERS[0] in cell.source, f"{meta['grade_id']} has no hidden tests"
        if meta.get("solution") and cell.cell_type == "code":
            assert SOLUTION_MARKERS[0] in cell.source
        # Every cell a student is not meant to edit is locked.
        if not meta.get("solution") and meta:
            assert meta["locked"], meta["grade_id"]


@pytest.mark.parametrize("assignment", DISCOVERED)
def test_setup_imports_no_answer(assignment):
    """The setup cells import nothing that computes a graded answer; references stay hidden."""
    nb = nbformat.read(COURSE / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    ready = [
        *("kl_divergence", "Bernoulli", "elbo", "log_importance_weights", "iwae_bound"),
        *("log_marginal_likelihood", "reparameterize", "kl_to_standard_normal"),
    ]
    if assignment != "how_good_is_my_model":  # there, q(z|x) is a torch.distributions object
        ready.append("Normal")
    for cell in nb.cells:
        if cell.cell_type != "code" or nbgrader_meta(cell).get("solution"):
            continue
        _, public = lines_between(cell.source, *HIDDEN_MARKERS)
        for line in public:
            if line.startswith(("import ", "from ")):
                assert not any(re.search(rf"\b{name}\b", line) for name in ready), line
            assert "_reference_" not in line, (
                f"a reference implementation outside hidden tests: {line}"
            )


@pytest.mark.parametrize("assignment", DISCOVERED)
def test_student_version_hides_solutions_and_hidden_tests(course, assignment):
    source = nbformat.read(course.source(assignment), as_version=4)
    release = nbformat.read(course.release(assignment), as_version=4)
    released_lines = {line.strip() for c in release.cells for line in c.source.splitlines()}
    released_text = "\n".join(c.source for c in release.cells)
    for begin, end in (SOLUTION_MARKERS, HIDDEN_MARKERS):
        leaked = sorted(secret_lines(source, begin, end) & released_lines)
        assert not leaked, f"{assignment}: lines that students must not see: {leaked}"
        assert begin not in released_text and end not in released_text
    assert "_reference_" not in released_text
    assert RUBRIC not in released_text, "a rubric reached the student version"
    for cell in source.cells:
        if nbgrader_meta(cell).get("solution") and cell.cell_type == "markdown":
            assert RUBRIC in cell.source, f"{nbgrader_meta(cell)['grade_id']} has no rubric"
    cells = cells_by_id(release)
    for grade_id, cell in cells.items():
        meta = nbgrader_meta(cell)
        if meta.get("solution") and cell.cell_type == "code":
            assert "raise NotImplementedError()" in cell.source
        if (meta.get("locked") or meta.get("grade")) and not meta.get("solution"):
            # nbgrader locks these cells for JupyterLab: students cannot edit or delete them.
            assert cell.metadata.get("editable") is False, grade_id
            assert cell.metadata.get("deletable") is False, grade_id
    assert set(cells) == set(cells_by_id(source))


def secret_lines(nb, begin: str, end: str) -> set[str]:
    """Code lines inside begin/end regions that appear nowhere outside them (comments dropped)."""
    secret, public = set(), set()
    for cell in nb.cells:
        inside, outside = lines_between(cell.source, begin, end)
        secret.update(line for line in inside if line and not line.startswith("#"))
        public.update(outside)
    return secret - public


@pytest.mark.parametrize("assignment", DISCOVERED)
def test_validator_passes_source(course, assignment):
    # The `nbgrader validate` command exits 0 even when tests fail; the Python API says what failed.
    results = course.validate(course.source(assignment), invert=False)
    assert results == {}, json.dumps(results, indent=1)[:4000]


@pytest.mark.parametrize("assignment", DISCOVERED)
def test_validator_inverted_fails_every_test_of_blank_version(course, assignment):
    results = course.validate(course.release(assignment), invert=True)
    assert results == {}, json.dumps(results, indent=1)[:4000]


@pytest.mark.parametrize("assignment", DISCOVERED)
def test_autograde_source_full_blank_zero(course, assignment):
    scores = autograded(course, assignment)
    if assignment in ASSIGNMENTS:
        total = ASSIGNMENTS[assignment]["points"]
        assert sum(max_score for _, max_score in scores["source"].values()) == total
    assert {name: score for name, (score, top) in scores["source"].items() if score != top} == {}
    assert {name: score for name, (score, _) in scores["blank"].items() if score != 0} == {}


ALL_MISTAKES = [(a, m) for a, spec in ASSIGNMENTS.items() for m in spec["mistakes"]]


@pytest.mark.parametrize("assignment, mistake", ALL_MISTAKES)
def test_autograde_each_mistake_loses_the_matching_tests(course, assignment, mistake):
    scores = autograded(course, assignment)[mistake]
    zero = {name for name, (score, _) in scores.items() if score == 0}
    full = {name for name, (score, top) in scores.items() if score == top}
    expected = ASSIGNMENTS[assignment]["mistakes"][mistake].loses
    assert zero == expected, f"{mistake}: tests at zero {sorted(zero)}, expected {sorted(expected)}"
    assert full == set(scores) - expected


def visible_errors(course: Course, assignment: str) -> dict[str, dict[str, str]]:
    """{mistake: {grade_id: "Error: message"}} from the student version's visible tests.

    Each mistake's notebook runs up to the last test cell the mistake loses when graded. The
    notebooks run two at a time (nbclient's async API, one kernel and one torch thread each), as
    the graders do; kernels started from one process are never handed the same port.
    """
    if assignment not in course.visible:
        specs = mistakes_of(assignment)

        async def run(name: str, slots: asyncio.Semaphore) -> tuple[str, dict[str, str]]:
            nb = filled(course, assignment, edits_of(specs[name]))
            ids = [nbgrader_meta(c).get("grade_id") for c in nb.cells]
            nb.cells = nb.cells[: max(ids.index(cell) for cell in specs[name].loses) + 1]
            folder = course.scratch / "visible" / assignment / name
            # exist_ok: after a failed run the next test of the assignment runs them again.
            folder.mkdir(parents=True, exist_ok=True)
            client = NotebookClient(
                nb,
                timeout=900,
                kernel_name="python3",
                allow_errors=True,
                resources={"metadata": {"path": str(folder)}},
            )
            async with slots:
                await client.async_execute()
            return name, {
                nbgrader_meta(c).get("grade_id"): f"{o.ename}: {o.evalue}"
                for c in nb.cells
                if c.cell_type == "code"
                for o in c.get("outputs", [])
                if o.output_type == "error"
            }

        async def run_all() -> dict[str, dict[str, str]]:
            slots = asyncio.Semaphore(2)
            return dict(await asyncio.gather(*(run(name, slots) for name in specs)))

        with environ({**course.isolated, DATA_SWITCH: None}):
            course.visible[assignment] = asyncio.run(run_all())
    return course.visible[assignment]


@pytest.mark.parametrize("assignment, mistake", ALL_MISTAKES)
def test_visible_tests_catch_each_graded_mistake(course, assignment, mistake):
    """What grading charges, the student version's visible tests already show, naming the cause.

    The student version (no hidden tests) with the mistake runs up to the last test cell the
    mistake loses when graded: each of those cells fails, and the first one's message names it.
    """
    spec = ASSIGNMENTS[assignment]["mistakes"][mistake]
    errors = visible_errors(course, assignment)[mistake]
    passed = sorted(spec.loses - set(errors))
    assert not passed, f"{mistake}: visible tests pass in {passed}, but grading takes their points"
    first = next(cell for cell in errors if cell in spec.loses)  # errors are in notebook order
    assert spec.says.lower() in errors[first].lower(), (
        f"{mistake}: the visible test {first} fails without naming the cause "
        f"({spec.says!r}):\n{errors[first][:2000]}"
    )


@pytest.mark.parametrize("assignment", DISCOVERED)
def test_feedback_keeps_hidden_tests_hidden(course, assignment):
    """The HTML feedback shows visible tests and messages, never hidden test code."""
    autograded(course, assignment)
    source = nbformat.read(course.source(assignment), as_version=4)
    hidden = secret_lines(source, *HIDDEN_MARKERS)
    pages = sorted(course.root.glob(f"feedback/*/{assignment}/{assignment}.html"))
    students = {p.parent.parent.name for p in pages}
    assert set(BASELINE) <= students, f"feedback only for {sorted(students)}"
    for page in pages:
        student = page.parent.parent.name
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        lines = {line.strip() for line in text.splitlines()}
        # The student's own code may coincide with a hidden line (a submission that calls the
        # library the way a reference does): showing it back to them reveals nothing.
        submitted = nbformat.read(
            course.root / "submitted" / student / assignment / page.name.replace(".html", ".ipynb"),
            4,
        )
        own = {line.strip() for c in submitted.cells for line in c.source.splitlines()}
        shown = sorted(line for line in (hidden & lines) - own if len(line) > 3)
        assert not shown, f"{student}: hidden test lines in feedback: {shown[:5]}"
        assert "HIDDEN TESTS" not in text
        assert "visible tests passed" in text or student == "blank"


def test_parallel_grading_matches_the_serial_run(course):
    """Regrading one student with nbgrader itself (serial, --force) gives the parallel scores.

    The parallel runner treats every assignment alike, so one shows it: assignment 2, whose
    grading trains a model, the result most likely to differ if the two runs differed in threads,
    seeds or environment.
    """
    assignment = "train_your_own_vae"
    parallel = autograded(course, assignment)["source"]
    course.nbgrader("autograde", assignment, "--student=source", "--force")
    assert course.grades(assignment, "source") == parallel


def test_parallel_graders_never_share_a_kernel_port(course, tmp_path, monkeypatch):
    """Each group's kernels talk over Unix sockets of their own, not over TCP ports.

    jupyter_client picks a kernel's TCP ports by binding to port 0 and releasing them before the
    kernel starts, so two graders starting kernels at once can be handed the same port (the
    kernel then dies before it replies). Watches the sockets appear while two groups are graded.
    """
    if os.name != "posix":
        pytest.skip("Unix sockets only")
    assignment = "gaussians_and_reparameterization"
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    students = ["socket-a", "socket-b"]
    for student in students:
        course.submit(assignment, student, filled(course, assignment))
    seen: set[str] = set()
    done = threading.Event()

    def watch():
        while not done.is_set():
            seen.update(p.name for p in tmp_path.glob("vae-grading-*/*"))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        autograde_parallel(assignment, course.root, jobs=2, students=students, env=course.env)
    finally:
        done.set()
        watcher.join()
    prefixes = {name.rsplit("-", 1)[0] for name in seen}
    assert prefixes == {"g0", "g1"}, f"sockets seen: {sorted(seen)}"
    assert not list(tmp_path.glob("vae-grading-*")), "the socket folder is left behind"
    for student in students:
        assert course.grades(assignment, student) == autograded(course, assignment)["source"]


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


# --------------------------------------------------------------------------- student distribution

# Package functions that compute a graded answer. The lessons need them, so the student
# distribution keeps them; every assignment's tests refuse a submission that calls them.
PACKAGE_ANSWERS = (
    "objectives.py",
    "reparam.py",
    "likelihood.py",
    "amortization.py",
    "rate_distortion.py",
    "densities.py",
)


@pytest.fixture(scope="module")
def student_dist(tmp_path_factory) -> Path:
    return build_student_dist(tmp_path_factory.mktemp("dist") / "student")


def test_student_dist_holds_what_students_need(student_dist):
    for assignment in DISCOVERED:
        nb = nbformat.read(student_dist / "assignments" / assignment / f"{assignment}.ipynb", 4)
        assert any("raise NotImplementedError()" in c.source for c in nb.cells)
    lessons = sorted(p.name for p in (student_dist / "notebooks").glob("*.ipynb"))
    assert lessons == sorted(p.name for p in (COURSE.parent / "notebooks").glob("*.ipynb"))
    assert (student_dist / "vae_tutorial" / "__init__.py").exists()
    assert (student_dist / "requirements.txt").exists()
    for absent in ("tests", "benchmarks", "assignments/source", "assignments/nbgrader_config.py"):
        assert not (student_dist / absent).exists(), absent
    assert not list(student_dist.rglob("gradebook.db"))


def test_student_dist_has_no_solution_or_hidden_test(student_dist):
    secret, public = set(), set()
    for assignment in DISCOVERED:
        nb = nbformat.read(COURSE / "source" / assignment / f"{assignment}.ipynb", as_version=4)
        for markers in (SOLUTION_MARKERS, HIDDEN_MARKERS):
            # Whole statements only: fragments of a call (`history = fit(`) are no answer, and
            # neither is an import.
            secret |= {
                line
                for line in secret_lines(nb, *markers)
                if len(line) > 12
                and not line.endswith(("(", ",", "[", "{"))
                and not line.startswith(("import ", "from "))
            }
        for cell in nb.cells:  # lines outside both kinds of region
            _, outside_solutions = lines_between(cell.source, *SOLUTION_MARKERS)
            public.update(lines_between("\n".join(outside_solutions), *HIDDEN_MARKERS)[1])
    # a line that one assignment shows in the open (a seed, say) is no secret of another's
    secret -= {line.strip() for line in public}
    leaks = {}
    for path in sorted(p for p in student_dist.rglob("*") if p.is_file()):
        if path.suffix not in {".py", ".ipynb", ".md", ".txt", ".toml", ".yml", ".cfg"}:
            continue
        text = path.read_text()
        if path.suffix == ".ipynb":
            text = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
        relative = path.relative_to(student_dist).as_posix()
        for marker in (*SOLUTION_MARKERS, *HIDDEN_MARKERS, "_reference_", RUBRIC):
            assert marker not in text, f"{relative} holds {marker!r}"
        found = sorted(secret & {line.strip() for line in text.splitlines()})
        if found and not relative.endswith(PACKAGE_ANSWERS):
            leaks[relative] = found
    assert not leaks, f"solution or hidden-test lines in the student distribution: {leaks}"


def test_every_package_answer_is_refused_by_the_tests():
    """Each module that computes a graded answer is on every assignment's list of refused code."""
    for assignment in ASSIGNMENTS:
        nb = nbformat.read(COURSE / "source" / assignment / f"{assignment}.ipynb", as_version=4)
        setup = cells_by_id(nb)["setup"].source
        assert "NOT_ALLOWED" in setup and "own_work" in setup
        refused = [name for name in PACKAGE_ANSWERS if name[:-3] in setup]
        assert refused or "vae_tutorial package" in setup, assignment


def test_zip_collect_file_name_pattern():
    config = PyFileConfigLoader("nbgrader_config.py", path=str(COURSE)).load_config()
    pattern = config.FileNameCollectorPlugin.named_regexp
    match = re.match(pattern, "downloaded/a/extracted/s_1.lee__train_your_own_vae.ipynb")
    assert match.groupdict() == {"student_id": "s_1.lee", "file_id": "train_your_own_vae.ipynb"}
    assert re.match(pattern, "bob__how_good_is_my_model.ipynb")["student_id"] == "bob"
