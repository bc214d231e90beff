"""The lesson series follows the series map, every lesson was committed from a clean top-to-bottom
run, and every check cell asserts something that could be false.

(The lessons themselves are re-run by nbval: pytest collects notebooks/*.ipynb.)

Check cells carry the cell tag ``check``; a code cell with an ``assert`` must carry it, and a
``check`` cell must hold at least one assert that is not trivially true.
"""

import ast
import json
import re

import pytest
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# The series map (DESIGN.md): a lesson's number fixes its name. Lessons join the map here first.
SERIES_MAP = {
    "00": "00_start_here",
    "01": "01_autoencoder_vs_vae",
    "02": "02_the_elbo",
    "03": "03_reparameterization_trick",
    "04": "04_latent_space_tsne",
    "05": "05_importance_sampling",
    "06": "06_exploring_the_latent_space",
    "07": "07_few_label_learning",
    "08": "08_semi_supervised_vae",
    "09": "09_beta_rate_distortion_and_collapse",
    "10": "10_latent_optimisation",
    "11": "11_amortization_gap_and_summary",
}
# Lessons that must exist (the others on the map may still be missing).
REQUIRED = ["00", "01", "02", "03", "04", "05", "06", "07", "10", "11"]


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _code_cells(path):
    return [c for c in _cells(path) if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_series_follows_the_map():
    stems = [path.stem for path in NOTEBOOKS]
    for stem in stems:
        assert stem[:2] in SERIES_MAP, f"{stem}: number {stem[:2]} is not on the series map"
        expected = SERIES_MAP[stem[:2]]
        assert stem == expected, f"lesson {stem[:2]} must be named {expected}"
    missing = [number for number in REQUIRED if SERIES_MAP[number] not in stems]
    assert not missing, f"lessons missing from the series: {[SERIES_MAP[n] for n in missing]}"
    for path in NOTEBOOKS:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_from_a_clean_run(path):
    nb = json.loads(path.read_text())
    assert "widgets" not in nb["metadata"], "saved widget state: re-run with vae_tutorial.execute"
    code = _code_cells(path)
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        "execution counts are not 1, 2, 3, ...: run the lesson top to bottom in a fresh kernel"
    )
    for cell in code:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"an error is saved in {path.name}"
            text = "".join(output.get("text", []))
            if output.get("name") == "stderr":
                assert "Warning" not in text, f"a warning is saved in {path.name}: {text[:200]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_follows_the_lesson_template(path):
    markdown = "\n".join("".join(c["source"]) for c in _cells(path) if c["cell_type"] == "markdown")
    for heading in ("What you will learn", "Try it", "Summary"):
        assert heading.lower() in markdown.lower(), f"{path.name} lacks a '{heading}' section"
    checks = [c for c in _code_cells(path) if "check" in c["metadata"].get("tags", [])]
    assert checks, f"{path.name} has no check cells (code cells tagged 'check')"


def trivial_assert_reason(test: ast.expr) -> str | None:
    """Why an assert's test is true whatever the code computes, or None if it could fail."""
    if isinstance(test, ast.Constant):
        return f"asserts the constant {test.value!r}"
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        if isinstance(test.operand, ast.Constant) and not test.operand.value:
            return "asserts not <a false constant>"
    if isinstance(test, ast.Compare):
        operands = [test.left, *test.comparators]
        same = all(ast.dump(operands[0]) == ast.dump(o) for o in operands[1:])
        reflexive = all(isinstance(op, (ast.Eq, ast.Is, ast.LtE, ast.GtE)) for op in test.ops)
        if same and reflexive:
            return "compares a value with itself"
        if all(isinstance(o, ast.Constant) for o in operands):
            return "compares constants only"
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        if any(isinstance(v, ast.Constant) and v.value for v in test.values):
            return "is or-ed with a true constant"
    return None


def _asserts(source: str):
    # IPython magics and shell escapes are not Python: drop those lines before parsing
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Assert)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_check_cells_assert_claims_that_can_fail(path):
    for index, cell in enumerate(_cells(path)):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        asserts = _asserts(source)
        tagged = "check" in cell["metadata"].get("tags", [])
        first_line = source.strip().splitlines()[0][:60] if source.strip() else ""
        where = f"{path.name}, cell {index} ({first_line})"
        if asserts and not tagged:
            pytest.fail(f"{where}: a cell with asserts must be tagged 'check'")
        if not tagged:
            continue
        assert asserts, f"{where}: a check cell without an assert checks nothing"
        reasons = [trivial_assert_reason(a.test) for a in asserts]
        assert not all(reasons), f"{where}: every assert is trivially true ({reasons[0]})"
        for reason in reasons:
            assert reason is None, f"{where}: an assert {reason}"


@pytest.mark.parametrize(
    "source, trivial",
    [
        ("assert True", True),
        ("assert x == x", True),
        ("assert f(a) <= f(a)", True),
        ("assert 1 < 2", True),
        ("assert ok or True", True),
        ("assert x < 5", False),
        ("assert abs(a - b) < 3 * se", False),
        ("assert x == y", False),
    ],
)
def test_the_trivial_assert_detector(source, trivial):
    (node,) = _asserts(source)
    assert (trivial_assert_reason(node.test) is not None) == trivial
