"""Lesson 06 in a real browser: JupyterLab in headless Chromium, driven by Playwright.

The test starts JupyterLab on 127.0.0.1 (a free port, a random token, its own config, runtime,
settings and workspace folders, no news or update checks) serving a temporary folder that holds
a copy of the lesson with its outputs cleared, so the committed notebook is never touched. It runs
all cells, waits for the latent-space explorer to render, focuses a slider, presses ArrowRight
and checks that the decoded image in the page changed. Screenshots go to test-artifacts/.

Needs Debian's Chromium at /usr/bin/chromium (Playwright's own browser download is not used).
Without it the test is skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LESSON = ROOT / "notebooks" / "06_exploring_the_latent_space.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
BEFORE_SHOT = ARTIFACTS / "browser_lesson06_before.png"
SUCCESS_SHOT = ARTIFACTS / "browser_lesson06_slider.png"
FAILURE_SHOT = ARTIFACTS / "browser_lesson06_failure.png"
SERVER_LOG = ARTIFACTS / "browser_lesson06_jupyterlab.log"
# The run-all wait covers the lesson itself (about 20 s on an idle laptop); the rest is start-up.
RUN_ALL_TIMEOUT_S = 75
SERVER_START_TIMEOUT_S = 45


def _require(condition: bool, reason: str) -> None:
    """Skip locally, fail under CI=true, when the browser set-up is missing."""
    if condition:
        return
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser test must run in CI)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def _isolated_env(base: Path) -> dict:
    """Environment for JupyterLab with every user-level folder in a temporary place."""
    env = dict(os.environ)
    folders = {
        "JUPYTER_CONFIG_DIR": base / "config",
        "JUPYTER_DATA_DIR": base / "data",
        "JUPYTER_RUNTIME_DIR": base / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": base / "settings",
        "JUPYTERLAB_WORKSPACES_DIR": base / "workspaces",
        "IPYTHONDIR": base / "ipython",
    }
    for name, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        env[name] = str(folder)
    # No announcements feed and no update check: nothing may reach the network.
    _write_json(
        folders["JUPYTER_CONFIG_DIR"] / "jupyter_server_config.json",
        {
            "LabApp": {
                "news_url": None,
                "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
            }
        },
    )
    _write_json(
        folders["JUPYTERLAB_SETTINGS_DIR"]
        / "@jupyterlab"
        / "apputils-extension"
        / "notification.jupyterlab-settings",
        {"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
    )
    # Keep every cell in the page, so prompts and outputs can be read wherever the view is.
    _write_json(
        folders["JUPYTERLAB_SETTINGS_DIR"]
        / "@jupyterlab"
        / "notebook-extension"
        / "tracker.jupyterlab-settings",
        {"windowingMode": "none"},
    )
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_CONFIG_PATH", None)
    return env


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _request(url: str, method: str) -> None:
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=5):
        pass


def _check_browser_setup() -> None:
    _require(CHROMIUM.exists(), f"{CHROMIUM} not found; install it with apt-get install chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _require(False, "the playwright Python package is not installed")


@contextlib.contextmanager
def jupyter_lab(tmp_path: Path):
    """A JupyterLab server on a free port serving a copy of lesson 06; stopped at the end."""
    # The lesson loads two shared models; train or load them here, so the browser part of the
    # test only times the lesson itself.
    from vae_tutorial.checkpoints import shared_model

    for name in ("vae-20", "vae-2"):
        shared_model(name, progress=False)

    root = tmp_path / "root"
    root.mkdir()
    notebook = nbformat.read(LESSON, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(notebook, root / LESSON.name)

    port, token = _free_port(), secrets.token_hex(24)
    log_path = tmp_path / "jupyterlab.log"
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI runners often run as root
        command.append("--ServerApp.allow_root=True")
    base = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            command,
            cwd=ROOT,
            env=_isolated_env(tmp_path / "jupyter"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_answering(server, base, token, log_path)
        yield {"base": base, "token": token, "notebook": LESSON.name, "log": log_path}
    finally:
        _stop(server, base, token)


def _stop(server: subprocess.Popen, base: str, token: str) -> None:
    """Shut the kernels down through the API, then stop the server (and only it)."""
    try:
        kernels = json.loads(_get(f"{base}/api/kernels?token={token}"))
        for kernel in kernels:
            _request(f"{base}/api/kernels/{kernel['id']}?token={token}", "DELETE")
    except (urllib.error.URLError, OSError, ValueError):
        pass
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)


def _wait_for_kernel(lab: dict, page, timeout_s: float = 60) -> None:
    """Wait until the page is connected to an idle kernel (a run-all sent earlier is lost)."""
    deadline = time.monotonic() + timeout_s
    kernels = []
    while time.monotonic() < deadline:
        try:
            kernels = json.loads(_get(f"{lab['base']}/api/kernels?token={lab['token']}"))
        except urllib.error.HTTPError:  # the server can fail a listing while a kernel starts
            kernels = []
        ready = any(k["execution_state"] == "idle" for k in kernels)
        if ready and page.locator("#jp-main-statusbar", has_text="Idle").count() > 0:
            return
        page.wait_for_timeout(250)
    pytest.fail(f"the notebook's kernel did not become ready: {kernels}")


def _lesson_started(page) -> bool:
    """Some code cell is running or has run (its prompt shows [*] or [n])."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]
            .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""
    )


def _run_all_cells(page) -> None:
    """Run -> Run All Cells from the menu bar; check that the lesson started."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel").filter(
        has_text="Run All Cells"
    ).first.click()
    for _ in range(60):
        if _lesson_started(page):
            return
        page.wait_for_timeout(250)
    pytest.fail("Run All Cells did not start the lesson")


def _wait_until_answering(server, base: str, token: str, log_path: Path) -> None:
    """Wait until the JupyterLab server answers its status API; fail if it exits or stays silent."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited early:\n{log_path.read_text()[-3000:]}")
        try:
            _get(f"{base}/api/status?token={token}")
            return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)


def _lesson_finished(page) -> bool:
    """All code cells ran: each prompt shows an execution count (none is queued, running or
    not yet run; a check cell that passes prints nothing, so outputs are not required)."""
    return page.evaluate(
        """() => {
            const cells = [...document.querySelectorAll('.jp-CodeCell')];
            const prompts = cells.map(c => c.querySelector('.jp-InputArea-prompt').textContent);
            return cells.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p));
        }"""
    )


def _errors_on_page(page) -> list[str]:
    return (
        page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        .filter(has_text="Error")
        .all_inner_texts()
    )


def test_slider_moved_with_the_keyboard_changes_the_decoded_image(tmp_path):
    _check_browser_setup()
    with jupyter_lab(tmp_path) as lab:
        _drive_lesson(lab)


def _drive_lesson(lab: dict) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    for stale in (FAILURE_SHOT, SERVER_LOG, BEFORE_SHOT, SUCCESS_SHOT):
        stale.unlink(missing_ok=True)
    started = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{lab['base']}/lab/tree/{lab['notebook']}?token={lab['token']}")
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
            _wait_for_kernel(lab, page)
            _run_all_cells(page)
            deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
            while not _lesson_finished(page):
                errors = _errors_on_page(page)
                assert not errors, f"a cell failed: {errors[0][:2000]}"
                assert time.monotonic() < deadline, "the lesson did not finish running in time"
                page.wait_for_timeout(500)
            assert not _errors_on_page(page)
            widget_errors = page.locator(".jp-OutputArea-output", has_text="Error displaying")
            assert widget_errors.count() == 0, "a widget failed to render"

            explorer = page.locator(".vae-latentexplorer").first
            explorer.scroll_into_view_if_needed()
            image = explorer.locator("img.vae-decoded-image")
            image.wait_for(state="visible", timeout=20_000)
            readout = explorer.locator(".widget-slider .widget-readout").first
            before_src = image.get_attribute("src")
            before_pixels = image.screenshot()
            before_readout = readout.inner_text()
            explorer.screenshot(path=str(BEFORE_SHOT))

            handle = explorer.locator(".widget-slider .noUi-handle").first
            handle.focus()
            for _ in range(10):
                page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "([img, src]) => img.getAttribute('src') !== src",
                arg=[image.element_handle(), before_src],
                timeout=20_000,
            )
            page.wait_for_timeout(300)  # let the new image finish decoding before the picture
            after_pixels = image.screenshot()
            after_readout = readout.inner_text()
            assert after_readout != before_readout, "the slider did not move"
            assert after_pixels != before_pixels, "the decoded image looks the same"
            explorer.screenshot(path=str(SUCCESS_SHOT))
        except BaseException:
            page.screenshot(path=str(FAILURE_SHOT), full_page=False)
            shutil.copy(lab["log"], SERVER_LOG)
            raise
        finally:
            browser.close()
    assert time.monotonic() - started < 110, "the browser test took too long"


# --------------------------------------------------------------------------- what a student sees
# The README's lessons command starts JupyterLab with JUPYTER_CONFIG_PATH=jupyter/student (settings
# the project ships); instructors use jupyter/instructor. Here JupyterLab starts with each folder
# and nothing else (empty user folders), and once with neither, to show what the settings change.

NEWS_QUESTION = "official Jupyter news"
INSTRUCTOR_TOOLS = {"Formgrader", "Create assignment", "Course List"}


def _readme_lessons_config_path() -> str:
    """The JUPYTER_CONFIG_PATH that the README's lessons command sets."""
    import re

    readme = (ROOT / "README.md").read_text()
    command = re.search(r"<!-- lessons-command -->\s*```bash\n(.+?)\n```", readme).group(1)
    match = re.search(r"JUPYTER_CONFIG_PATH=(\S+) \S*jupyter lab", command)
    assert match, f"the lessons command does not start JupyterLab with our settings: {command}"
    return match.group(1)


@contextlib.contextmanager
def _plain_lab(tmp_path: Path, config_path: Path | None):
    """JupyterLab on a free port with empty user folders, plus ``config_path`` if given."""
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_PATH", "JUPYTER_PATH"):
        env.pop(name, None)
    for name, sub in {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "settings",
        "JUPYTERLAB_WORKSPACES_DIR": "workspaces",
        "IPYTHONDIR": "ipython",
    }.items():
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
        env[name] = str(tmp_path / sub)
    if config_path is not None:
        env["JUPYTER_CONFIG_PATH"] = str(config_path)
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    port, token = _free_port(), secrets.token_hex(24)
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--ServerApp.allow_root=True")
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "jupyterlab.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_answering(server, base, token, log_path)
        yield {"base": base, "token": token, "log": log_path}
    finally:
        _stop(server, base, token)


def _what_lab_shows(lab: dict, page, shot: Path) -> dict:
    """Open JupyterLab; return the Nbgrader menu's entries and whether the news question shows."""
    page.goto(f"{lab['base']}/lab?token={lab['token']}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    page.wait_for_selector(".lm-MenuBar-itemLabel >> text=Nbgrader", timeout=30_000)
    # The news question is raised as soon as the settings are read; give it time to show.
    page.wait_for_timeout(4000)
    news = page.get_by_text(NEWS_QUESTION).count() > 0
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").first.click()
    page.wait_for_selector(".lm-Menu .lm-Menu-itemLabel", timeout=10_000)
    entries = page.evaluate(
        """() => [...document.querySelectorAll('.lm-Menu .lm-Menu-item:not(.lm-mod-hidden)')]
            .map(i => i.querySelector('.lm-Menu-itemLabel').textContent.trim())"""
    )
    page.screenshot(path=str(shot))
    page.keyboard.press("Escape")
    return {"news": news, "entries": [e for e in entries if e]}


@pytest.mark.parametrize("role", ["none", "student", "instructor"])
def test_student_and_instructor_settings(tmp_path, role):
    """Students: no news question, no instructor tools; instructors: every nbgrader tool."""
    _check_browser_setup()
    from playwright.sync_api import sync_playwright

    shipped = ROOT / _readme_lessons_config_path()
    assert shipped == ROOT / "jupyter" / "student"
    config = {"none": None, "student": shipped, "instructor": shipped.parent / "instructor"}[role]
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"browser_lab_{role}.png"
    with _plain_lab(tmp_path, config) as lab, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            seen = _what_lab_shows(lab, page, shot)
        finally:
            browser.close()
    assert "Assignment List" in seen["entries"], seen
    if role == "none":  # without the project's settings, a new user sees both
        assert seen["news"] and INSTRUCTOR_TOOLS <= set(seen["entries"]), seen
    elif role == "student":
        assert not seen["news"], "the news question shows for students"
        assert not INSTRUCTOR_TOOLS & set(seen["entries"]), f"instructor tools shown: {seen}"
    else:
        assert not seen["news"], "the news question shows for instructors"
        assert INSTRUCTOR_TOOLS <= set(seen["entries"]), f"instructor tools missing: {seen}"
