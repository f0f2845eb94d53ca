"""The queue in Redis (ZEUGE_HUEY_URL), as docs/scaling.md tells it: a real redis-server, the Procfile's web:
line and its worker: line started twice (two worker processes sharing one queue), an analysis of the demo
driven over HTTP; no SQLite queue file is made."""
import os
import re
import shutil
import signal
import socket
import subprocess

import pytest
import redis

from tests.e2e.conftest import _free_port, flask_cli, server_env, stop_process
from tests.e2e.test_procfile import (_consumer_pid, _web_is_up, analyse_the_demo, await_condition,
                                     start_procfile_process)
from tests.e2e.test_similarity_flow import EXPECTED_PAIRS

pytestmark = pytest.mark.e2e


def _ping(client):
    try:
        return client.ping()
    except redis.ConnectionError:
        return False


@pytest.fixture
def redis_url(tmp_path):
    """A redis-server of this test's own on a free port, nothing saved to disk."""
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = _free_port()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no", "--dir", str(tmp_path)], stdout=open(tmp_path / "redis.log", "w"),
                               stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        await_condition(lambda: _ping(redis.Redis.from_url(url)), 30, "redis-server to answer")
        yield url
    finally:
        stop_process(process)


def test_two_workers_share_a_redis_queue_and_the_demo_is_analysed(tmp_path, redis_url):
    port = _free_port()
    env = server_env(tmp_path, PORT=str(port), ZEUGE_RUN_STALE_SECONDS="10", ZEUGE_HUEY_URL=redis_url)
    del env["ZEUGE_HUEY_DB"]
    flask_cli(env, "init-db")
    flask_cli(env, "zeuge", "demo")
    processes = [start_procfile_process("web", env, tmp_path / "web.log")] + [
        start_procfile_process("worker", env, tmp_path / f"worker-{n}.log") for n in (1, 2)]
    url = f"http://127.0.0.1:{port}"
    try:
        await_condition(lambda: _web_is_up(url), 60, "the web: process to answer")
        client, batch_id = analyse_the_demo(url, tmp_path)
        _status, groups = client.get(f"/batches/{batch_id}/similarity/groups")
        cards = re.findall(r'<li class="card group-card.*?</li>', groups, re.S)
        for original, copy in EXPECTED_PAIRS:  # the demo's five near-duplicates, each in a card with its source
            assert any(original in card and copy in card for card in cards), (original, copy)
        assert not (tmp_path / "huey.sqlite3").exists()  # the queue lived in Redis
        attached = {info["name"] for info in redis.Redis.from_url(redis_url).client_list()}
        for worker in processes[1:]:  # both workers wait on the one queue
            assert f"zeuge-{socket.gethostname()}-{_consumer_pid(worker)}" in attached, attached
        for n in (1, 2):
            log = (tmp_path / f"worker-{n}.log").read_text()
            assert "Traceback" not in log, log[-2000:]
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            stop_process(process)
