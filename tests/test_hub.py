"""A real multi-user course on JupyterHub: one instructor, two students, nbgrader's exchange.

JupyterHub (with npm's configurable-http-proxy) listens on 127.0.0.1 on free ports; each user's
server runs as that user's own system account (JupyterHub's default local-process spawner), from
a Python environment the accounts can read (.ci/run builds it from Debian's Python under /opt).
The test creates three throwaway accounts and removes them at the end. It drives the course as
people would, through the Hub's REST API and the users' own servers:

1. the instructor's server generates and releases an assignment (nbgrader's formgrader API);
2. each student's server fetches it; one student writes the right solution, the other the common
   mistake of the wrong sign in the KL; both submit (nbgrader's assignment-list API);
3. the instructor collects, autogrades both, generates and releases feedback;
4. the grades are right (full marks; the mistake loses exactly the KL test's points), and each
   student fetches feedback on their own submission only;
5. as a student's system account: the exchange refuses to list its inbound and feedback
   folders, so the other student's submission and feedback cannot be found (nbgrader ends each
   submission's folder name with 72 random bits; reading it by the name a student could guess
   fails. nbgrader leaves the submitted files themselves world-readable: the unlistable folder
   and the random name are the guard); the instructor's course folder and source are out of
   reach; and no file a student can read in the exchange holds a solution or a hidden test.
   Students' servers run with the project's student settings (jupyter/student), so their
   formgrader API does not exist.

Everything stops at the end (servers, Hub, proxy), and no process of the accounts remains.
Runs only as root with CI=true (it adds system accounts); skipped with the reason otherwise.
Step timings go to test-artifacts/hub_timings.json.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from test_assignments import (
    ASSIGNMENTS,
    cells_by_id,
    nbgrader_meta,
    replace_once,
    strip_solution_markers,
)

pytestmark = [pytest.mark.hub, pytest.mark.slow]

HUB_VENV = Path(os.environ.get("VAE_TUTORIAL_HUB_VENV", "/opt/vae-tutorial-hub-venv"))
COURSE_ID = "vae-tutorial"
ASSIGNMENT = "gaussians_and_reparameterization"
MISTAKE = ASSIGNMENTS[ASSIGNMENT]["mistakes"]["kl-wrong-sign"]
ARTIFACTS = ROOT / "test-artifacts"
START_TIMEOUT_S = 180
SECRET_MARKERS = ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _check_setup() -> str:
    """The proxy's path; skip unless root under CI=true; fail in CI when a part is missing."""
    if not _in_ci() or os.geteuid() != 0:
        pytest.skip("adds system accounts: runs only as root with CI=true (as .ci/run does)")
    proxy = shutil.which("configurable-http-proxy")
    if proxy is None:
        pytest.fail("configurable-http-proxy not found: npm install -g configurable-http-proxy")
    if not (HUB_VENV / "bin" / "jupyterhub-singleuser").exists():
        pytest.fail(f"{HUB_VENV} lacks jupyterhub-singleuser: .ci/run builds it")
    return proxy


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Timer:
    def __init__(self):
        self.steps: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def step(self, name: str):
        started = time.monotonic()
        yield
        self.steps.append((name, round(time.monotonic() - started, 1)))


class Hub:
    """HTTP calls to the Hub's REST API and, through its proxy, to the users' servers."""

    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def call(self, method: str, path: str, data=None, form=None, timeout: float = 300):
        headers = {"Authorization": f"token {self.token}"}
        body = None
        if data is not None:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif method in ("POST", "PUT"):
            body = b""
        request = urllib.request.Request(self.base + path, body, headers, method=method)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode()
            return json.loads(text) if text.strip() else None

    def status(self, path: str) -> int:
        try:
            self.call("GET", path)
            return 200
        except urllib.error.HTTPError as error:
            return error.code

    def start_server(self, user: str) -> None:
        if self.status(f"/hub/api/users/{user}") == 404:
            self.call("POST", f"/hub/api/users/{user}")
        self.call("POST", f"/hub/api/users/{user}/server")
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            model = self.call("GET", f"/hub/api/users/{user}")
            server = model.get("servers", {}).get("", {})
            if server.get("ready"):
                return
            time.sleep(1)
        pytest.fail(f"the server of {user} did not start")

    def action(self, user: str, path: str) -> dict:
        """An nbgrader action on a user's server; nbgrader reports failure in the JSON body."""
        form = _course_form() if path.startswith("/assignments/") else None
        result = self.call("POST", f"/user/{user}{path}", form=form)
        if isinstance(result, dict) and result.get("success") is False:
            pytest.fail(f"{path} failed for {user}: {json.dumps(result)[:3000]}")
        return result


def _course_form() -> dict:
    return {"course_id": COURSE_ID, "assignment_id": ASSIGNMENT}


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=120)


@contextlib.contextmanager
def accounts(names: list[str]):
    """Throwaway system accounts with private home folders; removed at the end."""
    made = []
    try:
        for name in names:
            _run("useradd", "--create-home", "--shell", "/bin/bash", name)
            made.append(name)
            os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
        yield
    finally:
        leftovers = {}
        for name in made:
            pids = subprocess.run(
                ["pgrep", "-u", name], capture_output=True, text=True
            ).stdout.split()
            if pids:
                leftovers[name] = pids
                for pid in pids:  # end exactly these processes of the throwaway account
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
                time.sleep(1)
            subprocess.run(["userdel", "--remove", name], capture_output=True, timeout=60)
        assert not leftovers, f"processes left behind by the course: {leftovers}"


def _hub_config(base: Path, ports: dict, token: str, users: dict) -> str:
    config = base / "config"
    student_path = f"{config / 'student'}:{config / 'common'}"
    instructor_path = f"{config / 'instructor'}:{config / 'course'}:{config / 'common'}"
    return textwrap.dedent(
        f"""
        c.JupyterHub.ip = "127.0.0.1"
        c.JupyterHub.port = {ports["hub"]}
        c.JupyterHub.hub_ip = "127.0.0.1"
        c.JupyterHub.hub_port = {ports["api"]}
        c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{ports["proxy_api"]}"
        c.ConfigurableHTTPProxy.command = [{json.dumps(ports["proxy"])}]
        c.ConfigurableHTTPProxy.pid_file = "{base / "hub" / "proxy.pid"}"
        c.JupyterHub.db_url = "sqlite:///{base / "hub" / "jupyterhub.sqlite"}"
        c.JupyterHub.cookie_secret_file = "{base / "hub" / "cookie_secret"}"
        c.JupyterHub.cleanup_servers = True
        c.JupyterHub.cleanup_proxy = True
        c.JupyterHub.authenticator_class = "dummy"
        c.Authenticator.allowed_users = {set(users.values())!r}
        c.JupyterHub.services = [{{"name": "course-test", "api_token": "{token}"}}]
        c.JupyterHub.load_roles = [{{
            "name": "course-test",
            "services": ["course-test"],
            "scopes": ["admin:users", "admin:servers", "access:servers"],
        }}]
        c.Spawner.cmd = ["{HUB_VENV / "bin" / "jupyterhub-singleuser"}"]
        c.Spawner.notebook_dir = "~"
        c.Spawner.default_url = "/lab"
        c.Spawner.start_timeout = {START_TIMEOUT_S}
        c.Spawner.http_timeout = {START_TIMEOUT_S}
        instructor = "{users["instructor"]}"
        c.Spawner.env_keep = ["LANG", "LC_ALL"]  # nothing of the test's own environment
        c.Spawner.environment = {{
            "PATH": "{HUB_VENV / "bin"}:/usr/local/bin:/usr/bin:/bin",
            "OMP_NUM_THREADS": "1",
            "MPLBACKEND": "agg",
            "JUPYTER_CONFIG_PATH": lambda spawner: (
                "{instructor_path}" if spawner.user.name == instructor else "{student_path}"
            ),
        }}
        """
    )


def _write_configs(base: Path, exchange: Path, course: Path) -> None:
    config = base / "config"
    shutil.copytree(ROOT / "jupyter" / "student", config / "student")
    shutil.copytree(ROOT / "jupyter" / "instructor", config / "instructor")
    (config / "common").mkdir(parents=True)
    (config / "common" / "nbgrader_config.py").write_text(
        f'c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = "{COURSE_ID}"\n'
        f'c.Exchange.root = "{exchange}"\nc.Execute.timeout = 600\n'
    )
    (config / "course").mkdir()
    (config / "course" / "nbgrader_config.py").write_text(
        f'c = get_config()  # noqa: F821\nc.CourseDirectory.root = "{course}"\n'
    )
    for path in [config, *config.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


@contextlib.contextmanager
def running_hub(base: Path, config_text: str, log_path: Path):
    (base / "hub").mkdir(mode=0o700)
    config_file = base / "hub" / "jupyterhub_config.py"
    config_file.write_text(config_text)
    with open(log_path, "w") as log:
        hub = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config_file)],
            cwd=base / "hub",
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield hub
    finally:
        if hub.poll() is None:
            hub.send_signal(signal.SIGTERM)  # the Hub stops the servers and its proxy
            try:
                hub.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(hub.pid, signal.SIGKILL)
                hub.wait(timeout=10)


def _wait_for_hub(hub_process, api: Hub, log_path: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if hub_process.poll() is not None:
            pytest.fail(f"JupyterHub exited:\n{log_path.read_text()[-4000:]}")
        try:
            api.call("GET", "/hub/api/", timeout=5)
            return
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    pytest.fail(f"JupyterHub did not answer:\n{log_path.read_text()[-4000:]}")


def _student_answer(released: dict, with_mistake: bool) -> dict:
    """The released notebook with its solution cells filled in, as a student would."""
    source = nbformat.read(ROOT / "assignments" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    answers = {
        grade_id: strip_solution_markers(cell.source)
        for grade_id, cell in cells_by_id(source).items()
        if nbgrader_meta(cell).get("solution")
    }
    if with_mistake:
        answers[MISTAKE.cell] = replace_once(answers[MISTAKE.cell], MISTAKE.old, MISTAKE.new, "kl")
    nb = nbformat.from_dict(released)
    for grade_id, cell in cells_by_id(nb).items():
        if grade_id in answers:
            cell.source = answers[grade_id]
    return json.loads(nbformat.writes(nb))


PROBE = textwrap.dedent(
    """
    import json, os, sys
    exchange, course, other_submission, markers = sys.argv[1:5]
    markers = markers.split("|")
    def attempt(action, path):
        try:
            action(path)
            return "allowed"
        except (PermissionError, FileNotFoundError):
            return "refused"
    report = {
        "list inbound": attempt(os.listdir, os.path.join(exchange, "inbound")),
        "list feedback": attempt(os.listdir, os.path.join(exchange, "feedback")),
        "read other submission, name guessed": attempt(lambda p: open(p).read(), other_submission),
        "list instructor course": attempt(os.listdir, course),
        "read instructor source": attempt(
            lambda p: open(p).read(),
            os.path.join(course, "source", sys.argv[5], sys.argv[5] + ".ipynb"),
        ),
    }
    leaked = []
    for folder, _, files in os.walk(exchange):
        for name in files:
            try:
                text = open(os.path.join(folder, name), errors="replace").read()
            except PermissionError:
                continue
            if any(m in text for m in markers):
                leaked.append(os.path.join(folder, name))
    report["readable files with solutions"] = leaked
    print(json.dumps(report))
    """
)


def test_a_course_on_jupyterhub(tmp_path):
    proxy = _check_setup()
    timer = Timer()
    tag = secrets.token_hex(3)
    users = {"instructor": f"vaei{tag}", "right": f"vaea{tag}", "mistake": f"vaeb{tag}"}
    base = Path(tempfile.mkdtemp(prefix="vae-hub-", dir="/tmp"))
    base.chmod(0o755)
    exchange = base / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)  # nbgrader's exchange: every user may write; nbgrader guards the rest
    log_path = tmp_path / "jupyterhub.log"
    token = secrets.token_hex(32)
    ports = {"hub": _free_port(), "api": _free_port(), "proxy_api": _free_port(), "proxy": proxy}
    api = Hub(f"http://127.0.0.1:{ports['hub']}", token)
    started = time.monotonic()
    try:
        with accounts(list(users.values())):
            home = Path(pwd.getpwnam(users["instructor"]).pw_dir)
            course = home / "course"
            (course / "source").mkdir(parents=True)
            shutil.copytree(
                ROOT / "assignments" / "source" / ASSIGNMENT, course / "source" / ASSIGNMENT
            )
            shutil.copy(ROOT / "assignments" / "nbgrader_config.py", course)
            _run("chown", "-R", f"{users['instructor']}:", str(course))
            _write_configs(base, exchange, course)
            config_text = _hub_config(base, ports, token, users)
            with running_hub(base, config_text, log_path) as hub_process:
                with timer.step("start the Hub and its proxy"):
                    _wait_for_hub(hub_process, api, log_path)
                with timer.step("start three users' servers"):
                    for user in users.values():
                        api.start_server(user)
                _run_course(api, users, exchange, course, timer)
                with timer.step("stop the servers"):
                    for user in users.values():
                        api.call("DELETE", f"/hub/api/users/{user}/server")
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        if log_path.exists():
            shutil.copy(log_path, ARTIFACTS / "hub_jupyterhub.log")
        raise
    finally:
        shutil.rmtree(base, ignore_errors=True)
    total = round(time.monotonic() - started, 1)
    timer.steps.append(("total, including accounts and shutdown", total))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "hub_timings.json").write_text(json.dumps(dict(timer.steps), indent=1))
    print(json.dumps(dict(timer.steps), indent=1))


def _run_course(api: Hub, users: dict, exchange: Path, course: Path, timer: Timer) -> None:
    instructor, right, mistake = users["instructor"], users["right"], users["mistake"]
    formgrader = f"/formgrader/api/assignment/{ASSIGNMENT}"

    # Students have no formgrader (the project's student settings), the instructor has.
    assert api.status(f"/user/{right}{formgrader}") == 404
    assert api.status(f"/user/{instructor}/formgrader/api/assignments") == 200

    with timer.step("instructor: generate and release"):
        api.action(instructor, f"{formgrader}/assign")
        api.action(instructor, f"{formgrader}/release")

    with timer.step("students: fetch, answer, submit"):
        for student, wrong in ((right, False), (mistake, True)):
            listed = api.call("GET", f"/user/{student}/assignments?course_id={COURSE_ID}")
            assert any(a["assignment_id"] == ASSIGNMENT for a in listed["value"]), listed
            api.action(student, "/assignments/fetch")
            path = f"/user/{student}/api/contents/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
            released = api.call("GET", path)["content"]
            answer = _student_answer(released, with_mistake=wrong)
            api.call("PUT", path, data={"type": "notebook", "format": "json", "content": answer})
            api.action(student, "/assignments/submit")

    with timer.step("instructor: collect"):
        api.action(instructor, f"{formgrader}/collect")
    with timer.step("instructor: autograde two submissions"):
        for student in (right, mistake):
            api.action(instructor, f"/formgrader/api/submission/{ASSIGNMENT}/{student}/autograde")
    with timer.step("instructor: generate and release feedback"):
        api.action(instructor, f"{formgrader}/generate_feedback")
        api.action(instructor, f"{formgrader}/release_feedback")

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gradebook:
        scores, shown = {}, {}
        for student in (right, mistake):
            notebook = gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
            # the autograded test cells; the written answers are graded by hand, later
            scores[student] = {
                g.name: (g.score, g.max_score)
                for g in notebook.grades
                if getattr(g.cell, "cell_type", "code") == "code"
            }
            submission = gradebook.find_submission(ASSIGNMENT, student)
            shown[student] = (submission.score, submission.max_score)  # as the feedback shows it
    total = ASSIGNMENTS[ASSIGNMENT]["points"]
    assert sum(s for s, _ in scores[right].values()) == total, scores[right]
    lost = {name: top for name, (score, top) in scores[mistake].items() if score != top}
    assert set(lost) == MISTAKE.loses and all(scores[mistake][name][0] == 0 for name in lost), (
        scores[mistake]
    )
    assert sum(s for s, _ in scores[mistake].values()) == total - sum(lost.values())

    with timer.step("students: fetch feedback"):
        for student, wrong in ((right, False), (mistake, True)):
            api.action(student, "/assignments/fetch_feedback")
            folder = api.call("GET", f"/user/{student}/api/contents/{ASSIGNMENT}/feedback")
            (stamp,) = [item["path"] for item in folder["content"]]
            where = urllib.parse.quote(f"{stamp}/{ASSIGNMENT}.html")  # the folder is a timestamp
            page = api.call("GET", f"/user/{student}/api/contents/{where}")
            text = html.unescape(re.sub(r"<[^>]+>", "", page["content"]))  # the page's text
            assert ("-0.5 * (mu**2" in text) == wrong, f"{student} got someone else's feedback"
            earned = total - (sum(lost.values()) if wrong else 0)
            assert shown[student][0] == earned, shown[student]
            headline = f"{ASSIGNMENT} (Score: {float(earned)} / {float(shown[student][1])})"
            assert headline in text, f"{student}: no '{headline}' in the feedback"

    with timer.step("students: the exchange refuses what is not theirs"):
        inbound = exchange / COURSE_ID / "inbound"
        other = [p for p in inbound.iterdir() if p.name.startswith(f"{mistake}+")]
        assert len(other) == 1, sorted(inbound.iterdir())
        # nbgrader names a submission student+assignment+time+random (72 random bits) and
        # keeps the folder unlistable: another student can name everything but the random part.
        random_part = other[0].name.rsplit("+", 1)[1]
        assert len(random_part) >= 12, other[0].name
        guessed = inbound / other[0].name.rsplit("+", 1)[0]
        other_file = guessed / f"{ASSIGNMENT}.ipynb"
        report = _probe(right, exchange / COURSE_ID, course, other_file)
        assert report["list inbound"] == "refused", report
        assert report["list feedback"] == "refused", report
        assert report["list instructor course"] == "refused", report
        assert report["read instructor source"] == "refused", report
        assert report["readable files with solutions"] == [], report
        assert report["read other submission, name guessed"] == "refused", report


def _probe(user: str, exchange: Path, course: Path, other_file: Path) -> dict:
    result = subprocess.run(
        ["runuser", "-u", user, "--", "/usr/bin/python3", "-c", PROBE, str(exchange), str(course)]
        + [str(other_file), "|".join(SECRET_MARKERS), ASSIGNMENT],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)
