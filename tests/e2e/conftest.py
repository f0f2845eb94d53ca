"""A real server process and a real browser (Playwright driving Debian's chromium)."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(url, process, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with code {process.returncode}")
        try:
            urllib.request.urlopen(url + "/login", timeout=1)
            return
        except OSError:
            time.sleep(0.1)  # polling a condition: the port is not open yet
    raise TimeoutError(f"server at {url} did not answer within {timeout_s}s")


def server_env(tmp_path, **extra):
    """Environment for a server process with its own database and storage."""
    env = dict(os.environ, ZEUGE_DATABASE=str(tmp_path / "e2e.sqlite3"), ZEUGE_STORAGE_DIR=str(tmp_path / "st"),
               ZEUGE_HUEY_DB=str(tmp_path / "huey.sqlite3"), ZEUGE_SECRET_KEY="e2e-secret-" + "k" * 32, **extra)
    return env


def start_process(args, env, log_path):
    """A child process of this test with its output in log_path."""
    log = open(log_path, "w")
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop_process(process):
    """Terminate a child process and wait for it."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def flask_cli(env, *args):
    """Run a `flask --app app ...` command to completion with the test's environment; a failure shows its output."""
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"`flask {' '.join(args)}` exited {done.returncode}\nstdout:\n{done.stdout}\n"
                    f"stderr:\n{done.stderr}")
    return done


def serve(tmp_path, env):
    """Start `flask run` on a free port with env; return (process, base URL) once it answers."""
    port = _free_port()
    process = start_process([sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)], env,
                            tmp_path / "server.log")
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, process)
    except Exception:
        stop_process(process)
        raise
    return process, url


def start_consumer(tmp_path, env):
    """A real huey_consumer process (one worker thread) on the test's queue."""
    return start_process([sys.executable, "-m", "huey.bin.huey_consumer", "app.huey", "-w", "1"],
                         env, tmp_path / "consumer.log")


@pytest.fixture
def demo_with_worker(tmp_path):
    """The demo data, `flask run` without its in-process worker, and a real huey_consumer; yields the base URL."""
    env = server_env(tmp_path, ZEUGE_WORKER_IN_PROCESS="false")
    flask_cli(env, "zeuge", "demo")
    consumer = start_consumer(tmp_path, env)
    server, url = serve(tmp_path, env)
    try:
        yield url
    finally:
        stop_process(server)
        stop_process(consumer)


@pytest.fixture
def live_server(tmp_path):
    """`flask run` in its own process on a free port (its in-process worker on); yields its base URL."""
    process, url = serve(tmp_path, server_env(tmp_path))
    try:
        yield url
    finally:
        stop_process(process)


@pytest.fixture
def demo_url(tmp_path):
    """`flask run` with the demo archives and its in-process worker; yields its base URL."""
    env = server_env(tmp_path, ZEUGE_WORKER_IN_PROCESS="true")
    flask_cli(env, "zeuge", "demo")
    process, url = serve(tmp_path, env)
    try:
        yield url
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, headless, started by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make chromium` or set CHROMIUM")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser context and page per test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


# Installed before any page script: a blocked inline script, style or eval shows up as a console error.
_CSP_WATCH = """
document.addEventListener("securitypolicyviolation", (e) => console.error(
    `CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline code"} ` +
    `at ${e.sourceFile}:${e.lineNumber}`));
document.addEventListener("htmx:evalDisallowedError", () => console.error("CSP violation: htmx wanted eval"));
"""


def watch_csp(page):
    """A list that fills with every Content-Security-Policy violation the page reports while the test runs."""
    violations = []
    page.add_init_script(_CSP_WATCH)
    page.on("console", lambda message: violations.append(message.text)
            if "CSP violation" in message.text or "Content Security Policy" in message.text else None)
    return violations


def choose_files(page, files):
    """Choose files in the upload tab's picker once its script has taken the drop zone over."""
    expect(page.locator("#dropzone.enhanced")).to_be_visible()
    page.set_input_files("#file-input", files=files)


def screenshot(page, name):
    """Save a full-page screenshot as a test artefact."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def drag(page, source, target):
    """Drag as a hand does, in steps: SortableJS (pointer-event mode) follows the moves, not only the ends."""
    source.scroll_into_view_if_needed()
    start = source.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    target.scroll_into_view_if_needed()
    end = target.bounding_box()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=15)
    page.mouse.up()
