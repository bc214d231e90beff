"""The lessons' website: built offline from the committed notebooks, read in headless Chromium.

The test builds the site with the README's site command (from another environment than the
project's .venv: with that environment's Sphinx and site/conf.py, into a temporary folder),
serves it on 127.0.0.1 and opens every lesson page in
headless Chromium with every request to another host refused: each page loads with no console
error and no failed request, its formulas are typeset by the MathJax copy inside the site, and
each of its images decodes. The table of contents lists the lessons in series order and the
assignments' student versions can be downloaded. Screenshots of the front page and of lesson 06
(its widgets shown as pictures) go to test-artifacts/.

Needs Debian's Chromium and MathJax (npm's ``mathjax``, installed under _build/mathjax by the site
command; installed here with npm if missing). Without them the test is skipped, except under
CI=true, where that is a failure.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]
MATHJAX_VERSION = "3.2.2"
MATHJAX = ROOT / "_build" / "mathjax" / "node_modules" / "mathjax" / "es5"
ARTIFACTS = ROOT / "test-artifacts"
LESSONS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason} (CI=true: the site test must run in CI)")
    pytest.skip(reason)


def readme_site_command() -> str:
    readme = (ROOT / "README.md").read_text()
    return re.search(r"<!-- site-command -->\s*```bash\n(.+?)\n```", readme).group(1)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built from scratch; returns its root folder.

    Run from the project's own .venv (as CI runs the test command), the test runs the README's
    site command itself, which builds into _build/html; from any other environment it installs
    MathJax if needed and builds with that environment's Sphinx into a temporary folder.
    """
    started = time.monotonic()
    if Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():
        out = ROOT / "_build" / "html"
        shutil.rmtree(out, ignore_errors=True)
        command = readme_site_command()
        result = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=1200
        )
    else:
        if not (MATHJAX / "tex-chtml.js").exists():
            _require(shutil.which("npm") is not None, "npm is needed to install MathJax")
            subprocess.run(
                ["npm", "install", "--prefix", str(ROOT / "_build" / "mathjax"), "--no-save"]
                + [f"mathjax@{MATHJAX_VERSION}"],
                check=True,
                timeout=600,
            )
        out = tmp_path_factory.mktemp("site") / "html"
        result = subprocess.run(
            [sys.executable, "-m", "sphinx", "-q", "-b", "html", "-c", "site", ".", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
    assert result.returncode == 0, result.stderr[-4000:]
    print(f"site built in {time.monotonic() - started:.0f} s")
    return out


@pytest.fixture(scope="module")
def server(site):
    """A static file server on a free port of 127.0.0.1, stopped at the end."""
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass


def test_every_lesson_and_the_assignments_become_pages(site):
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    for lesson in LESSONS:
        assert f"notebooks/{lesson}.html" in pages
    assert "site/index.html" in pages and "site/assignments.html" in pages
    assert "index.html" in pages  # a redirect to site/index.html
    for name in (p.name for p in (ROOT / "assignments" / "source").iterdir() if p.is_dir()):
        student = (site / "assignments" / f"{name}.ipynb").read_text()
        assert "raise NotImplementedError()" in student
        assert "### BEGIN SOLUTION" not in student and "BEGIN HIDDEN TESTS" not in student
    print(f"{len(pages)} HTML pages, {len(LESSONS)} lessons")


@pytest.fixture(scope="module")
def browser():
    _require(CHROMIUM.exists(), f"{CHROMIUM} not found; install it with apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require(False, "the playwright Python package is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _saved_pictures(lesson: str) -> int:
    """How many outputs of the lesson hold a PNG (widgets save one beside their view)."""
    nb = json.loads((ROOT / "notebooks" / f"{lesson}.ipynb").read_text())
    return sum(
        "image/png" in output.get("data", {})
        for cell in nb["cells"]
        if "remove-cell" not in cell.get("metadata", {}).get("tags", [])
        for output in cell.get("outputs", [])
    )


def _open(browser, url: str, origin: str):
    """Open url; every request to another host is refused and recorded."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))

    def route(r):
        if r.request.url.startswith(origin) or r.request.url.startswith("data:"):
            r.continue_()
        else:
            problems.append(f"request to another host: {r.request.url}")
            r.abort()

    page.route("**/*", route)
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, url
    return page, problems


def test_table_of_contents_follows_the_series_map(browser, server):
    page, problems = _open(browser, f"{server}/site/index.html", server)
    links = page.evaluate(
        """() => [...document.querySelectorAll('.bd-sidebar-primary nav a')]
            .map(a => a.getAttribute('href'))"""
    )
    lessons = [Path(urllib.parse.urlparse(h).path).stem for h in links if "notebooks/" in h]
    assert lessons == LESSONS, links
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "site_index.png"))
    page.close()
    assert not problems, problems
    assignments, problems = _open(browser, f"{server}/site/assignments.html", server)
    hrefs = assignments.evaluate(
        "() => [...document.querySelectorAll('a[download]')].map(a => a.href)"
    )
    assert len(hrefs) == len(list((ROOT / "assignments" / "source").iterdir()))
    for href in hrefs:
        assert assignments.request.get(href).ok, href
    assignments.close()
    assert not problems, problems


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_page_loads_offline_with_math_and_images(browser, server, lesson):
    page, problems = _open(browser, f"{server}/notebooks/{lesson}.html", server)
    try:
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000
        )
        page.evaluate("() => MathJax.startup.promise")
        typeset = page.evaluate("() => document.querySelectorAll('mjx-container').length")
        raw_math = page.evaluate(
            """() => [...document.querySelectorAll('.math')]
                .filter(m => !m.querySelector('mjx-container')).length"""
        )
        errors = page.evaluate("() => document.querySelectorAll('mjx-merror').length")
        assert typeset > 0, f"{lesson}: no formula was typeset"
        assert raw_math == 0, f"{lesson}: {raw_math} formulas were left as TeX"
        assert errors == 0, f"{lesson}: MathJax reported {errors} errors"
        images = page.evaluate(
            """async () => {
                const imgs = [...document.querySelectorAll('article img')];
                for (const img of imgs) { img.loading = 'eager'; }
                await Promise.all(imgs.map(img => img.decode().catch(() => null)));
                return imgs.map(img => [img.getAttribute('src').slice(0, 80), img.naturalWidth]);
            }"""
        )
        broken = [src for src, width in images if width == 0]
        # Every picture the notebook saved is on the page, the widgets' pictures included.
        saved = _saved_pictures(lesson)
        assert len(images) >= saved, f"{lesson}: {len(images)} images on the page, {saved} saved"
        assert not broken, f"{lesson}: images that do not decode: {broken}"
        # Links between lessons: the previous and the next one in the series.
        footer = page.evaluate(
            "() => [...document.querySelectorAll('.prev-next-area a')].map(a => a.href)"
        )
        index = LESSONS.index(lesson)
        neighbours = LESSONS[max(index - 1, 0) : index] + LESSONS[index + 1 : index + 2]
        for other in neighbours:
            assert any(href.endswith(f"/notebooks/{other}.html") for href in footer), footer
        if lesson.startswith("06_"):
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "site_lesson06.png"), full_page=False)
            page.locator("article img").nth(3).scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "site_lesson06_widgets.png"), full_page=False)
        page.wait_for_timeout(200)  # late console errors (fonts) arrive after load
        assert not problems, problems
    finally:
        page.close()
