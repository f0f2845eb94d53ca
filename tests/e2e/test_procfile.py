"""The deployment as README tells it: `honcho start` on the Procfile, and the Procfile's own `web:` and
`worker:` lines started as written (parsed from the file), driven over HTTP: an analysis of the demo's 20
photos finishes with groups, the web survives slow clients, and a worker killed with -9 leaves no analysis
processes behind."""
import http.cookiejar
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.e2e.conftest import ROOT, _free_port, flask_cli, server_env, stop_process
from tests.e2e.test_similarity_flow import _block_reading_the_last_photo
from zeuge_lite.demo import DEMO_EMAIL, DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def procfile_commands():
    """{process name: command} from the repository's Procfile."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))


def _with_venv_path(env):
    return dict(env, PATH=os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]))


def start_procfile_process(name, env, log_path):
    """Start one Procfile line the way Procfile runners do (`sh -c`), with the venv's commands on PATH."""
    command = procfile_commands()[name].strip()
    return subprocess.Popen(["/bin/sh", "-c", command], cwd=ROOT, env=_with_venv_path(env),
                            stdout=open(log_path, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def start_honcho(env, log_path):
    """README's `honcho start`: every Procfile line under one runner."""
    return subprocess.Popen(["honcho", "start"], cwd=ROOT, env=_with_venv_path(env), stdout=open(log_path, "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def await_condition(check, timeout_s, what, every_s=0.2):
    """Poll check() until it returns something truthy; fail with `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every_s)  # polling a condition in another process
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


class Browser:
    """A logged-in HTTP client with cookies and the CSRF token, as htmx would send it."""

    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.csrf = None

    def get(self, path, timeout=10):
        with self.opener.open(self.base + path, timeout=timeout) as response:
            return response.status, response.read().decode()

    def post(self, path, fields=None, timeout=30):
        data = urllib.parse.urlencode(dict(fields or {}, csrf_token=self.csrf)).encode()
        request = urllib.request.Request(self.base + path, data=data, headers={"HX-Request": "true"})
        with self.opener.open(request, timeout=timeout) as response:
            return response.status, response.read().decode()

    def login(self, email, password):
        _status, page = self.get("/login")
        self.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        try:
            status, home = self.post("/login", {"email": email, "password": password})
        except urllib.error.HTTPError as error:
            raise AssertionError(error.read().decode()[:2000]) from None
        assert status == 200 and "Log out" in home, home[:500]
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', home).group(1)  # a new session, a new token


def _web_is_up(url):
    try:
        return urllib.request.urlopen(url + "/login", timeout=2).status == 200
    except OSError:
        return False


@pytest.fixture
def deployment(tmp_path, request):
    """The demo data, then the Procfile (under honcho, or line by line); yields (base URL, env, processes)."""
    port = _free_port()
    env = server_env(tmp_path, PORT=str(port), ZEUGE_RUN_STALE_SECONDS="10")
    del env["ZEUGE_HUEY_DB"]  # as deployed: the queue's place comes from the configuration
    flask_cli(env, "init-db")
    flask_cli(env, "zeuge", "demo")
    if getattr(request, "param", "lines") == "honcho":
        processes = {"honcho": start_honcho(env, tmp_path / "honcho.log")}
    else:
        processes = {"web": start_procfile_process("web", env, tmp_path / "web.log"),
                     "worker": start_procfile_process("worker", env, tmp_path / "worker.log")}
    url = f"http://127.0.0.1:{port}"
    try:
        await_condition(lambda: _web_is_up(url), 60, "the web: process to answer")
        yield url, env, processes, tmp_path
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            stop_process(process)


def _demo_batch_id(tmp_path):
    conn = sqlite3.connect(tmp_path / "e2e.sqlite3")
    try:
        return conn.execute("SELECT id FROM batches WHERE name = 'Kodak scans'").fetchone()[0]
    finally:
        conn.close()


def _finished(client, batch_id):
    _status, fragment = client.get(f"/batches/{batch_id}/similarity/progress")
    if "load delay" in fragment:
        return None
    return fragment


def analyse_the_demo(url, tmp_path):
    """Log in as the demo user, run the demo batch's analysis over HTTP, await its end; (client, batch id)."""
    client = Browser(url)
    client.login(DEMO_EMAIL, DEMO_PASSWORD)
    batch_id = _demo_batch_id(tmp_path)
    status, started = client.post(f"/batches/{batch_id}/similarity/run")
    assert status == 200 and "Cancel" in started
    done = await_condition(lambda: _finished(client, batch_id), 180, "the analysis to finish")
    assert "Analysed" in done and "20 photos new in this batch" in done, done
    return client, batch_id


@pytest.mark.parametrize("deployment", ["honcho"], indirect=True)
def test_the_procfile_deployment_analyses_the_demo_and_finds_its_groups(deployment):
    url, _env, _processes, tmp_path = deployment
    client, batch_id = analyse_the_demo(url, tmp_path)
    _status, groups = client.get(f"/batches/{batch_id}/similarity/groups")
    assert len(re.findall(r"<li class=\"card group-card", groups)) >= 5, groups[:2000]
    assert "kodim23-reencoded.jpg" in groups
    log = (tmp_path / "honcho.log").read_text()
    assert "Traceback" not in log and "daemonic" not in log, log[-3000:]
    assert "worker.1" in log and "web.1" in log  # both Procfile lines ran


def _children(pid):
    """Pids of the direct children of a process (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _descendants(pid):
    todo, seen = [pid], []
    while todo:
        for child in _children(todo.pop()):
            seen.append(child)
            todo.append(child)
    return seen


def _alive(pid):
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _consumer_pid(shell):
    """The huey_consumer process of a Procfile line (sh may exec it or start it as its child)."""
    for pid in [shell.pid] + _descendants(shell.pid):
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        if any(arg.endswith(b"/huey_consumer") for arg in argv[:2]):
            return pid
    raise AssertionError("no huey_consumer process found")


def test_a_worker_killed_with_9_leaves_no_analysis_processes_and_the_page_says_so(deployment):
    url, _env, processes, tmp_path = deployment
    restore = _block_reading_the_last_photo(tmp_path)
    client = Browser(url)
    client.login(DEMO_EMAIL, DEMO_PASSWORD)
    batch_id = _demo_batch_id(tmp_path)
    client.post(f"/batches/{batch_id}/similarity/run")
    consumer = _consumer_pid(processes["worker"])
    pool = await_condition(lambda: [p for p in _descendants(consumer) if _alive(p)] if len(
        _descendants(consumer)) >= 2 else None, 60, "the analysis processes to start")
    await_condition(lambda: "photos/s" in client.get(f"/batches/{batch_id}/similarity/progress")[1], 60,
                    "the run to make progress")
    os.kill(consumer, signal.SIGKILL)
    try:
        await_condition(lambda: not any(_alive(pid) for pid in pool), 30, f"analysis processes {pool} to end")
    except AssertionError:
        survivors = [(pid, open(f"/proc/{pid}/cmdline", "rb").read()[:300]) for pid in pool if _alive(pid)]
        raise AssertionError(f"analysis processes outlived the worker: {survivors}") from None
    page = await_condition(lambda: _finished(client, batch_id), 60, "the page to show the dead worker")
    assert "worker stopped" in page
    restore()


def test_slow_clients_do_not_take_the_site_down(deployment):
    url, _env, _processes, _tmp = deployment
    port = int(url.rsplit(":", 1)[1])
    slow = []
    try:
        for _ in range(200):  # a hundred times what took the old sync workers down
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # and never finish
            slow.append(sock)
        started = time.monotonic()
        for _ in range(5):
            assert urllib.request.urlopen(url + "/login", timeout=15).status == 200
        assert time.monotonic() - started < 60  # a bound so a hang fails; the figure itself is in bench/
    finally:
        for sock in slow:
            sock.close()
