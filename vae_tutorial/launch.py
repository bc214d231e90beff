"""Launch buttons for the lessons: "Open in Colab" and "Launch Binder", and a Colab set-up cell.

``python -m vae_tutorial.launch notebooks/*.ipynb`` puts two cells at the top of each notebook, or
refreshes them when they are there already (running it twice changes nothing):

1. a markdown cell (tag ``launch-badges``) with the two badges, pointing at this notebook in the
   repository whose address is ``[project.urls] Repository`` in pyproject.toml (its one home);
2. a code cell (tag ``launch-setup``) that does nothing in a local install; on Google Colab it
   pip-installs this package from the repository and turns on Colab's widget manager, so the
   lesson's sliders work there.

Both cells carry the tag ``remove-cell``, so the lessons' website (which has its own launch
buttons) leaves them out. A newly inserted set-up cell gets execution count 1 and an empty
output, which is exactly what a local run gives, and the code cells below it are renumbered, so
the lesson still reads as one clean top-to-bottom run and needs no re-execution.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import quote

import nbformat

BADGES_TAG = "launch-badges"
SETUP_TAG = "launch-setup"
HIDDEN_ON_SITE = "remove-cell"
BRANCH = "main"
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"


def repository_url() -> str:
    """The repository's web address: ``[project.urls] Repository`` (pyproject.toml or metadata)."""
    if PYPROJECT.exists():
        text = PYPROJECT.read_text()
        section = re.search(r"^\[project\.urls\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
        if section:
            found = re.search(r'^Repository\s*=\s*"([^"]+)"', section.group(1), re.M)
            if found:
                return found.group(1).rstrip("/")
    for entry in metadata.metadata("vae_tutorial").get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository":
            return url.strip().rstrip("/")
    raise RuntimeError("No repository address: set [project.urls] Repository in pyproject.toml.")


def _github_path(url: str) -> str:
    """``owner/name`` of a GitHub address (Colab and Binder launch from GitHub)."""
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?", url)
    if not match:
        raise ValueError(f"repository address {url!r} is not https://github.com/<owner>/<name>.")
    return match.group(1)


def launch_links(notebook: str, url: str | None = None, branch: str = BRANCH) -> dict[str, str]:
    """Colab and Binder addresses for ``notebook`` (a path inside the repository)."""
    repo = _github_path(url or repository_url())
    return {
        "colab": f"https://colab.research.google.com/github/{repo}/blob/{branch}/{notebook}",
        "binder": f"https://mybinder.org/v2/gh/{repo}/{branch}?labpath={quote(notebook, safe='')}",
    }


def badges_source(notebook: str, url: str | None = None) -> str:
    links = launch_links(notebook, url)
    return (
        f"[![Open in Colab]({COLAB_BADGE})]({links['colab']}) "
        f"[![Launch Binder]({BINDER_BADGE})]({links['binder']})\n\n"
        "*On Colab, run the first code cell: it installs this lesson's package. "
        "Binder and a local install need nothing more.*"
    )


def setup_source(url: str | None = None, branch: str = BRANCH) -> str:
    package = f"vae_tutorial @ git+{url or repository_url()}@{branch}"
    return (
        "# Google Colab only: install the lesson's package and turn on the widgets.\n"
        "# Anywhere else (a local install, Binder, JupyterHub) this cell does nothing.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        f'    package = "{package}"\n'
        '    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", package])\n'
        "    from google.colab import output\n"
        "\n"
        "    output.enable_custom_widget_manager()"
    )


def _tagged(nb, tag: str):
    return [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]


def add_launch_cells(nb, notebook: str, url: str | None = None) -> bool:
    """Insert or refresh the two launch cells of ``nb`` in place; True if anything changed."""
    before = nbformat.writes(nb)
    badges = _tagged(nb, BADGES_TAG)
    setup = _tagged(nb, SETUP_TAG)
    if badges:
        badges[0].source = badges_source(notebook, url)
    else:
        cell = nbformat.v4.new_markdown_cell(badges_source(notebook, url))
        cell.metadata["tags"] = [BADGES_TAG, HIDDEN_ON_SITE]
        nb.cells.insert(0, cell)
    if setup:
        setup[0].source = setup_source(url)
    else:
        code = [c for c in nb.cells if c.cell_type == "code"]
        executed = bool(code) and all(c.get("execution_count") for c in code)
        for c in code if executed else []:
            c.execution_count += 1
        cell = nbformat.v4.new_code_cell(setup_source(url), execution_count=1 if executed else None)
        cell.metadata["tags"] = [SETUP_TAG, HIDDEN_ON_SITE]
        nb.cells.insert(nb.cells.index(_tagged(nb, BADGES_TAG)[0]) + 1, cell)
    return nbformat.writes(nb) != before


def update_notebook(path: Path, root: Path | None = None) -> bool:
    """Add or refresh the launch cells of the notebook file at ``path``; True if it changed."""
    path = Path(path).resolve()
    root = (root or PYPROJECT.parent).resolve()
    nb = nbformat.read(path, as_version=4)
    changed = add_launch_cells(nb, path.relative_to(root).as_posix())
    if changed:
        nbformat.write(nb, path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for path in args.notebooks:
        changed = update_notebook(path)
        print(f"{path}: {'updated' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
