"""Sphinx settings for the lessons' website (built from the committed, executed notebooks).

Build it from the repository root (the README's site command):

    npm install --prefix _build/mathjax --no-save mathjax@3.2.2
    .venv/bin/sphinx-build -b html -c site . _build/html

Nothing is executed and nothing is fetched from the internet while building or reading: the
notebooks' saved outputs are shown as they are, MathJax is served from the site itself, and the
assignments' student versions are generated here by nbgrader, from assignments/source.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
MATHJAX = Path(
    os.environ.get("VAE_TUTORIAL_MATHJAX", BUILD / "mathjax" / "node_modules" / "mathjax" / "es5")
)
STATIC = BUILD / "site-static"  # MathJax, copied into _static/
EXTRA = BUILD / "site-extra"  # files copied as they are to the site's root

project = "vae-tutorial"
author = "the vae-tutorial authors"
copyright = "the vae-tutorial authors"

extensions = ["myst_nb"]
root_doc = "site/index"
# The source folder is the repository root; only these files are pages.
include_patterns = ["site/*.md", "notebooks/[0-9][0-9]_*.ipynb"]
exclude_patterns = ["_build", ".venv", "**/.ipynb_checkpoints"]

# Show the committed outputs; never run a notebook here.
nb_execution_mode = "off"
# Widgets have no saved state: show the picture each view also saves, and load no widget code.
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
nb_ipywidgets_js = {}
myst_enable_extensions = ["dollarmath", "amsmath", "html_image"]
myst_heading_anchors = 3

html_theme = "sphinx_book_theme"
html_title = "Understanding variational auto-encoders"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "home_page_in_toc": True,
}
sys.path.insert(0, str(ROOT))
from vae_tutorial.launch import BRANCH, repository_url  # noqa: E402

# Launch buttons (Binder, Colab) on each lesson page, from the repository's one address.
html_theme_options.update(
    repository_url=repository_url(),
    repository_branch=BRANCH,
    path_to_docs="",
    use_repository_button=True,
    launch_buttons={
        "binderhub_url": "https://mybinder.org",
        "colab_url": "https://colab.research.google.com",
        "notebook_interface": "jupyterlab",
    },
)
# A fresh browser has no saved light/dark choice; without a default the theme logs an error.
html_context = {"default_mode": "light"}
html_static_path = [str(STATIC)]
html_extra_path = [str(EXTRA)]
mathjax_path = "mathjax/tex-chtml.js"  # relative to _static/
html_last_updated_fmt = None
suppress_warnings = ["mystnb.unknown_mime_type"]

MATHJAX_PARTS = ["tex-chtml.js", "input", "output/chtml", "ui", "a11y", "adaptors"]


def _stage_mathjax() -> None:
    """Copy the parts of MathJax 3 that typeset TeX as HTML into the site's _static folder."""
    if not (MATHJAX / "tex-chtml.js").exists():
        raise RuntimeError(
            f"MathJax not found at {MATHJAX}: run `npm install --prefix _build/mathjax --no-save "
            "mathjax@3.2.2` first (or set VAE_TUTORIAL_MATHJAX to its es5 folder)."
        )
    target = STATIC / "mathjax"
    shutil.rmtree(target, ignore_errors=True)
    for part in MATHJAX_PARTS:
        source = MATHJAX / part
        if source.is_dir():
            shutil.copytree(source, target / part)
        elif source.exists():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target / part)


def assignment_names() -> list[str]:
    return sorted(p.name for p in (ROOT / "assignments" / "source").iterdir() if p.is_dir())


def _stage_assignments() -> None:
    """The student version of each assignment, made by nbgrader in a scratch copy of the course."""
    target = EXTRA / "assignments"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as scratch:
        course = Path(scratch) / "course"
        shutil.copytree(ROOT / "assignments" / "source", course / "source")
        shutil.copy(ROOT / "assignments" / "nbgrader_config.py", course)
        env = {
            **os.environ,
            "HOME": scratch,
            "JUPYTER_CONFIG_DIR": str(Path(scratch) / "jupyter"),
            "JUPYTER_DATA_DIR": str(Path(scratch) / "jupyter-data"),
            # nbgrader runs `alembic` when it creates its gradebook: find this environment's copy.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        for name in assignment_names():
            subprocess.run(
                [sys.executable, "-m", "nbgrader", "generate_assignment", name],
                cwd=course,
                env=env,
                check=True,
                capture_output=True,
                timeout=300,
            )
            shutil.copy(course / "release" / name / f"{name}.ipynb", target / f"{name}.ipynb")


def _stage_root_redirect() -> None:
    (EXTRA / "index.html").write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="0; url=site/index.html">'
        "<title>vae-tutorial</title></head>"
        '<body><a href="site/index.html">The lessons</a></body></html>\n'
    )


def _assignment_list(app, docname, source) -> None:
    """Fill the assignments page's list from the assignments that exist."""
    if docname != "site/assignments":
        return
    lines = [
        f"- **{name.replace('_', ' ').capitalize()}**: "
        f'<a href="../assignments/{name}.ipynb" download>{name}.ipynb</a>'
        for name in assignment_names()
    ]
    source[0] = source[0].replace("{{ assignment_list }}", "\n".join(lines))


def setup(app):
    EXTRA.mkdir(parents=True, exist_ok=True)
    STATIC.mkdir(parents=True, exist_ok=True)
    _stage_mathjax()
    _stage_assignments()
    _stage_root_redirect()
    app.connect("source-read", _assignment_list)
