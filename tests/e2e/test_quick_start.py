"""README's Quick start, its first command run as written (`make demo`): it sets up, makes the demo and serves
it; the demo user logs in and finds the paid archive's photos ready to analyse. Its second command is what CI
runs (.ci/run), so this suite is its own test."""
import os
import re
import signal
import subprocess

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ROOT, _free_port, _wait_until_serving, server_env
from zeuge_lite.demo import DEMO_EMAIL, DEMO_PASSWORD, NEAR_DUPLICATES, PHOTOS_DIR

pytestmark = pytest.mark.e2e


def quick_start_commands():
    """The commands of README's Quick start block, without their comments."""
    block = re.search(r"## Quick start.*?```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def test_the_readme_has_two_quick_start_commands_demo_then_tests():
    assert quick_start_commands() == ["make demo", "make test"]


def test_the_quick_start_demo_command_serves_the_demo_ready_to_analyse(tmp_path, page):
    port = _free_port()
    # Its own database and files (the instance/ folder of a developer's demo is left alone) and a free port.
    env = server_env(tmp_path, FLASK_RUN_PORT=str(port), ZEUGE_MODEL_DIR=str(tmp_path / "models"),
                     ZEUGE_WORKER_IN_PROCESS="true")
    log = open(tmp_path / "make-demo.log", "w")
    demo = subprocess.Popen(["bash", "-c", quick_start_commands()[0]], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)  # make and its flask run: one group
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, demo, timeout_s=600)  # a machine without .venv installs it first
        page.goto(url + "/login")
        page.fill("input[name=email]", DEMO_EMAIL)
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.click("button.primary")
        page.get_by_role("link", name="Demo Archive (Pro)").click()
        page.get_by_role("link", name="Kodak scans").click()
        photos = len([p for p in PHOTOS_DIR.iterdir() if p.suffix in (".png", ".jpg")]) + len(NEAR_DUPLICATES)
        expect(page.locator("#item-grid figure[data-item-id]")).to_have_count(photos)
        page.click("text=3. Similarity")
        expect(page.get_by_role("button", name="Run analysis", exact=True)).to_be_enabled()
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGTERM)
            demo.wait(timeout=30)
        log.close()
    assert "Demo ready" in (tmp_path / "make-demo.log").read_text()
