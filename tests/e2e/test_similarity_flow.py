"""In a real browser with the shipped model: the demo archive, Run, live progress, groups of the demo's
near-duplicates; with the in-process worker of `flask run` and with a real huey_consumer process, including
a consumer killed mid-run; and clicks and edits made before the deferred htmx has run (Run, a metadata cell)."""
import os
import re
import signal

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import flask_cli, screenshot, serve, server_env, start_consumer, stop_process
from zeuge_lite.db import connect
from zeuge_lite.demo import DEMO_EMAIL, DEMO_PASSWORD
from zeuge_lite.storage import Storage

pytestmark = pytest.mark.e2e
EXPECTED_PAIRS = [("kodak-kodim01.png", "kodim01-rescan-small.jpg"), ("kodak-kodim05.png", "kodim05-cropped.jpg"),
                  ("kodak-kodim13.png", "kodim13-turned.jpg"), ("skimage-chelsea.png", "chelsea-sepia.jpg"),
                  ("kodak-kodim23.png", "kodim23-reencoded.jpg")]


def _open_similarity_tab(page, url):
    page.goto(url + "/login")
    page.fill("input[name=email]", DEMO_EMAIL)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button.primary")
    if page.locator("h1", has_text="Your archives").count():
        page.click("text=Demo Archive (Pro)")
    page.click("text=Kodak scans")
    page.click("text=3. Similarity")
    page.wait_for_load_state("load")  # htmx is deferred: a click before it has run does nothing


def _group_sets(page):
    cards = page.locator(".group-card")
    return [set(cards.nth(i).locator(".filename").all_inner_texts()) for i in range(cards.count())]


def _assert_demo_groups(page):
    expect(page.locator("#analysis")).to_contain_text("Analysed", timeout=120_000)
    expect(page.locator("#groups [role=status]")).to_contain_text("groups found")
    groups = _group_sets(page)
    for original, copy in EXPECTED_PAIRS:
        assert any({original, copy} <= group for group in groups), (original, copy, groups)
    assert all(len(group) >= 2 for group in groups)


@pytest.mark.parametrize("worker", ["in-process", "huey_consumer"])
def test_run_analysis_on_the_demo(tmp_path, page, worker):
    env = server_env(tmp_path, ZEUGE_WORKER_IN_PROCESS="true" if worker == "in-process" else "false")
    flask_cli(env, "zeuge", "demo")
    consumer = start_consumer(tmp_path, env) if worker == "huey_consumer" else None
    server, url = serve(tmp_path, env)
    try:
        _open_similarity_tab(page, url)
        page.click("#run-analysis")
        # Progress ("n of 20 photos") or, when the 20 photos took less than the first poll, the finished run: on a
        # fast machine the in-process run ended before the page asked (a fresh-clone CI run failed so).
        expect(page.locator("#analysis")).to_contain_text(re.compile(r"of 20 photos|20 photos new in this batch"))
        screenshot(page, f"10-similarity-progress-{worker}")
        page.click("text=2. Items")  # leave and come back: the same run is shown
        page.click("text=3. Similarity")
        _assert_demo_groups(page)
        expect(page.locator("#analysis")).to_contain_text("20 photos new in this batch")
        screenshot(page, f"11-similarity-groups-{worker}")
        page.get_by_label("Exact copies only").check()
        expect(page.locator("input[value=exact]")).to_be_checked()
        expect(page.locator(".group-card .badge", has_text="near-duplicate")).to_have_count(0)
        exact_groups = _group_sets(page)
        assert {"kodak-kodim23.png", "kodim23-reencoded.jpg"} in exact_groups
        assert not any({"kodim05-cropped.jpg", "kodim13-turned.jpg"} & group for group in exact_groups)
        page.click("#run-analysis")  # re-run: nothing new to compute
        expect(page.locator("#analysis")).to_contain_text("nothing new in this batch", timeout=60_000)
    finally:
        stop_process(server)
        if consumer:
            stop_process(consumer)


def _block_reading_the_last_photo(tmp_path):
    """Put a FIFO in place of the batch's last original: the worker analyses the others, then waits on it.

    Analysis is fast enough to finish before a page can show progress, so this makes "mid-run" certain.
    Returns a function that puts the original back."""
    conn = connect(tmp_path / "e2e.sqlite3")
    sha, ext = conn.execute("SELECT i.sha256, f.ext FROM items i JOIN files f ON f.sha256 = i.sha256 "
                            "JOIN batches b ON b.id = i.batch_id WHERE b.name = 'Kodak scans' "
                            "ORDER BY i.position DESC LIMIT 1").fetchone()
    conn.close()
    path = Storage(tmp_path / "st").original_path(sha, ext)
    original = path.read_bytes()
    path.unlink()
    os.mkfifo(path)

    def restore():
        path.unlink()
        path.write_bytes(original)
    return restore


def test_a_consumer_killed_mid_run_leaves_a_clear_failure_and_a_rerun_finishes(tmp_path, page):
    env = server_env(tmp_path, ZEUGE_WORKER_IN_PROCESS="false", ZEUGE_RUN_STALE_SECONDS="10",
                     ZEUGE_ANALYSIS_WORKERS="1")
    flask_cli(env, "zeuge", "demo")
    restore_last_photo = _block_reading_the_last_photo(tmp_path)
    consumer = start_consumer(tmp_path, env)
    server, url = serve(tmp_path, env)
    try:
        _open_similarity_tab(page, url)
        page.click("#run-analysis")
        expect(page.locator("#analysis")).to_contain_text("photos/s", timeout=60_000)
        consumer.send_signal(signal.SIGKILL)
        consumer.wait()
        expect(page.locator("#analysis")).to_contain_text("worker stopped", timeout=60_000)
        screenshot(page, "12-similarity-worker-died")
        restore_last_photo()
        conn = connect(tmp_path / "e2e.sqlite3")
        kept = conn.execute("SELECT count(*) FROM features WHERE error IS NULL").fetchone()[0]
        conn.close()
        assert 0 < kept < 20  # what the dead worker computed is kept for the re-run
        consumer = start_consumer(tmp_path, env)
        page.click("#run-analysis")
        _assert_demo_groups(page)
        done = page.locator("#analysis").inner_text()
        assert "20 photos new in this batch" in done  # per batch: the same count whatever was cached
    finally:
        stop_process(server)
        stop_process(consumer)


def test_run_starts_from_a_page_whose_scripts_have_not_run(demo_with_worker, browser):
    """Run analysis is a form as well: clicked before the deferred htmx has run (here: scripts off), it still
    starts the run (CSRF token included) and the tab shows it."""
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    _open_similarity_tab(page, demo_with_worker)
    page.click("#run-analysis")
    expect(page).to_have_url(demo_with_worker + "/batches/1/similarity")
    expect(page.locator("#analysis progress, #analysis p[role=status]").first).to_be_visible()
    context.close()


def test_a_metadata_edit_made_before_htmx_has_run_is_saved(demo_with_worker, page):
    """The Metadata tab saves a cell on change through htmx, which is deferred: here htmx is held back until
    a cell has been edited and left, and the edit must still be saved."""
    _open_similarity_tab(page, demo_with_worker)
    held = []
    page.route("**/vendor/htmx-*.min.js", lambda route: held.append(route))
    page.goto(demo_with_worker + "/batches/1/metadata", wait_until="commit")
    cell, saved = page.locator("table.metadata input[name=title]").first, page.locator("td.saved").first
    cell.fill("Edited before htmx")
    cell.press("Tab")
    expect(saved).to_have_text("")
    assert len(held) == 1  # htmx has not run
    held[0].continue_()
    page.unroute("**/vendor/htmx-*.min.js")
    expect(saved).to_contain_text("Saved")
    page.reload()
    expect(page.locator("table.metadata input[name=title]").first).to_have_value("Edited before htmx")
