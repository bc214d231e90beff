"""The lesson series is complete and every lesson was committed from a clean top-to-bottom run.

(The lessons themselves are re-run by nbval: pytest collects notebooks/*.ipynb.)
"""

import json
import re

import pytest
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED_NUMBERS = [f"{n:02d}" for n in range(9)]


def test_series_is_complete():
    numbers = [path.name[:2] for path in NOTEBOOKS]
    assert numbers == EXPECTED_NUMBERS, f"lessons present: {[p.name for p in NOTEBOOKS]}"
    for path in NOTEBOOKS:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_from_a_clean_run(path):
    nb = json.loads(path.read_text())
    assert "widgets" not in nb["metadata"], "saved widget state: re-run with vae_tutorial.execute"
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
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
    nb = json.loads(path.read_text())
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    for heading in ("What you will learn", "Try it", "Summary"):
        assert heading.lower() in markdown.lower(), f"{path.name} lacks a '{heading}' section"
    tagged = [c for c in nb["cells"] if "nbval-check-output" in c["metadata"].get("tags", [])]
    has_asserts = any(
        "assert " in "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"
    )
    assert tagged or has_asserts, f"{path.name} has no check cells"
