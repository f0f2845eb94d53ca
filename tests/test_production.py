"""The production shape, below the browser: the queue comes from the app's configuration, page views never
write, a run survives deletes under it and says when no worker runs, counts reveal nothing across archives."""
import subprocess
import sys

import pytest

from tests.conftest import PASSWORD
from zeuge_lite import analysis, queries, tasks
from zeuge_lite import queries_similarity as qs
from zeuge_lite.db import get_db
from zeuge_lite.demo import PHOTOS_DIR
from zeuge_lite.tasks import huey

MODEL = "efficientnet-lite0"


@pytest.fixture
def immediate():
    huey.immediate = True
    yield
    huey.immediate = False


def _photo_bytes(name):
    return (PHOTOS_DIR / name).read_bytes()


def test_importing_the_tasks_creates_no_file_and_the_queue_is_not_usable_before_the_app(tmp_path):
    code = ("import zeuge_lite.tasks as t\n"
            "try:\n    t.huey.enqueue(t.analyse_batch.s(1, 'a', 'b', {}))\n"
            "except RuntimeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(PHOTOS_DIR.parents[1]), "PATH": "/usr/bin:/bin"})
    assert "create the app first" in out.stdout, out.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_queue_lives_where_the_app_config_says(app, tmp_path):
    assert app.config["HUEY_DB"] == str(tmp_path / "huey.sqlite3")
    assert huey.storage.filename == app.config["HUEY_DB"]


def test_a_get_request_cannot_write(app, conn):
    with app.test_request_context("/", method="GET"):
        with pytest.raises(Exception, match="readonly"):
            get_db().execute("INSERT INTO archives (name) VALUES ('x')")
    with app.test_request_context("/", method="POST"):
        get_db().execute("INSERT INTO archives (name) VALUES ('x')")


@pytest.fixture
def pro_batch(world):
    _user, archive = world.user("an@x.org", plan="pro")
    world.login("an@x.org")
    return archive, world.batch(archive)


def test_a_run_skips_items_deleted_under_it_and_finishes(app, world, conn, pro_batch, immediate, monkeypatch):
    app.config["TRASH_DAYS"] = 0  # deleted for good, files and all, while the run works on them
    _archive, batch = pro_batch
    names = ["kodak-kodim05.png", "kodak-kodim23.png", "skimage-coffee.png", "kodak-kodim01.png"]
    world.upload(batch, *[(name, _photo_bytes(name)) for name in names])
    items = queries.items_of_batch(conn, batch)
    real = analysis.analyse_files

    def delete_the_last_two_first(paths, *args, **kwargs):
        for item in items[2:]:
            world.client.post(f"/items/{item['id']}/delete")
        yield from real(paths, *args, **kwargs)
    monkeypatch.setattr(analysis, "analyse_files", delete_the_last_two_first)
    world.client.post(f"/batches/{batch}/similarity/run")
    run = qs.latest_run(conn, batch)
    assert (run["status"], run["error"]) == ("done", None)
    assert conn.execute("SELECT count(*) FROM features WHERE model = ?", (MODEL,)).fetchone()[0] == 2


def test_a_queued_run_without_a_worker_says_how_to_start_one(world, conn, pro_batch):
    _archive, batch = pro_batch
    world.upload(batch, ("a.png", _photo_bytes("kodak-kodim05.png")))
    world.client.post(f"/batches/{batch}/similarity/run")  # queued; no consumer in this test
    fresh = world.client.get(f"/batches/{batch}/similarity/progress").data.decode()
    assert "No worker is running" not in fresh  # a worker may simply not have taken it yet
    conn.execute("UPDATE runs SET created_at = datetime('now', '-5 minutes')")
    stuck = world.client.get(f"/batches/{batch}/similarity/progress").data.decode()
    assert "No worker is running" in stuck and "huey_consumer app.huey" in stuck
    assert 'hx-trigger="load delay:1s"' in stuck  # it keeps polling: the run starts once a worker comes
    tasks.beat(conn, "host:42", [], stale_s=120)
    assert "No worker is running" not in world.client.get(f"/batches/{batch}/similarity/progress").data.decode()
    huey.flush()


def test_a_live_workers_beat_keeps_its_long_run_alive(conn, pro_batch):
    _archive, batch = pro_batch
    run, _ = analysis.start_or_get_run(conn, batch, MODEL, {}, None)
    qs.start_run(conn, run["id"])
    conn.execute("UPDATE runs SET heartbeat_at = datetime('now', '-10 minutes')")
    tasks.beat(conn, "host:1", [run["id"]], stale_s=120)  # e.g. a long comparison stage: no progress writes
    assert qs.run_by_id(conn, run["id"])["status"] == "running"


def _done_message(client, batch):
    page = client.get(f"/batches/{batch}/similarity/progress").data.decode()
    return page.split('role="status">')[-1].split("</p>")[0].split("UTC")[1]


def test_a_runs_counts_do_not_tell_whether_another_archive_holds_a_file(app, world, conn, immediate):
    shared, own = _photo_bytes("kodak-kodim05.png"), _photo_bytes("skimage-coffee.png")
    _u, other_archive = world.user("other@x.org", plan="pro")
    world.login("other@x.org")
    other_batch = world.batch(other_archive)
    world.upload(other_batch, ("held.png", shared))
    world.client.post(f"/batches/{other_batch}/similarity/run")
    world.logout()
    messages = {}
    for email, uploads in (("curious@x.org", [("probe.png", shared), ("mine.png", own)]),
                           ("control@x.org", [("probe.png", _photo_bytes("kodak-kodim23.png")),
                                              ("mine.png", own)])):
        _u, archive = world.user(email, plan="pro")
        world.client.post("/login", data={"email": email, "password": PASSWORD})
        batch = world.batch(archive)
        world.upload(batch, *uploads)
        world.client.post(f"/batches/{batch}/similarity/run")
        messages[email] = _done_message(world.client, batch)
        run = qs.latest_run(conn, batch)
        assert (run["total"], run["done"]) == (2, 2)
        world.logout()
    assert messages["curious@x.org"] == messages["control@x.org"] == ": 2 photos new in this batch."


def test_every_page_a_member_can_open_works_on_a_read_only_connection(app, world, conn, pro_batch, immediate):
    """Every GET route, with real ids of an analysed batch: none writes (a write would fail on the read-only
    connection and answer 500)."""
    archive, batch = pro_batch
    world.upload(batch, ("a.png", _photo_bytes("kodak-kodim05.png")), ("b.png", _photo_bytes("kodak-kodim23.png")))
    world.client.post(f"/batches/{batch}/similarity/run")
    item = queries.items_of_batch(conn, batch)[0]
    user_id = queries.user_by_email(conn, "an@x.org")["id"]
    ids = {"archive_id": archive, "batch_id": batch, "item_id": item["id"], "kind": "thumb", "user_id": user_id,
           "key": "-".join(str(i["id"]) for i in queries.items_of_batch(conn, batch)), "fmt": "json"}
    checked = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static" or not set(rule.arguments) <= set(ids):
            continue
        with app.test_request_context():
            from flask import url_for
            url = url_for(rule.endpoint, **{name: ids[name] for name in rule.arguments})
        status = world.client.get(url).status_code
        assert status < 500, (url, status)
        checked.append(rule.endpoint)
    assert len(checked) > 25 and {"similarity.progress", "similarity.groups", "items.show"} <= set(checked)


def test_the_workers_beat_forgets_expired_logins(world, conn):
    world.user("u@x.org")
    world.login("u@x.org")
    conn.execute("UPDATE sessions SET expires_at = datetime('now', '-1 minute')")
    world.login("u@x.org")  # a second, current login
    tasks.beat(conn, "host:1", [], stale_s=120)
    assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1


def test_head_on_a_delete_confirmation_only_looks(world, conn, pro_batch):
    _archive, batch = pro_batch
    item = world.upload(batch, ("a.png", _photo_bytes("kodak-kodim05.png")))[0]["item_id"]
    for url in (f"/items/{item}/delete", f"/batches/{batch}/delete"):
        assert world.client.head(url).status_code == 200
    assert queries.items_of_batch(conn, batch)[0]["id"] == item


def test_an_oversized_plain_form_is_refused_before_parsing(client):
    body = b"email=a&password=x&pad=" + b"a" * (2 * 1024 * 1024)
    response = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413


def test_ids_too_large_for_sqlite_are_not_found(world):
    world.user("u@x.org")
    world.login("u@x.org")
    assert world.client.get("/items/99999999999999999999999").status_code == 404


def test_long_passphrases_and_names(client):
    phrase = "the quiet heron counts nine lanterns over the frozen canal before the ferry leaves"  # 84 chars
    long_ok = client.post("/register", data={"email": "p@x.org", "name": "P", "password": phrase})
    assert long_ok.status_code == 302
    long_name = client.post("/register", data={"email": "n@x.org", "name": "N" * 5000, "password": phrase})
    assert long_name.status_code == 422 and b"under 200 characters" in long_name.data


def test_own_name_plus_a_digit_is_too_easy(client):
    response = client.post("/register", data={"email": "demo@x.org", "name": "Demo Archivist",
                                              "password": "demoarchivist1"})
    assert response.status_code == 422 and b"harder password" in response.data


def test_rename_never_follows_a_referer_off_site(world, pro_batch):
    _archive, batch = pro_batch
    response = world.client.post(f"/batches/{batch}/rename", data={"name": "B"},
                                 headers={"Referer": "https://evil.example/phish"})
    assert response.headers["Location"] == f"/batches/{batch}/items"
    local = world.client.post(f"/batches/{batch}/rename", data={"name": "B"},
                              headers={"Referer": f"http://localhost/batches/{batch}/metadata"})
    assert local.headers["Location"] == f"/batches/{batch}/metadata"


def test_a_gif_named_html_keeps_its_real_suffix_in_the_zip(world, pro_batch):
    import io
    import zipfile

    from tests.conftest import image_bytes
    _archive, batch = pro_batch
    world.upload(batch, ("evil.html", image_bytes("GIF")))
    names = zipfile.ZipFile(io.BytesIO(world.client.get(f"/batches/{batch}/export.zip").data)).namelist()
    assert "0001_evil.html.gif" in names


def test_a_weak_or_public_key_file_refuses_to_start(tmp_path):
    from zeuge_lite.sessions import InsecureSecretKey, resolve_secret_key
    (tmp_path / "secret_key").write_text("dev")
    with pytest.raises(InsecureSecretKey, match="delete it"):
        resolve_secret_key({}, tmp_path)
    assert len(resolve_secret_key({"SECRET_KEY": 12345678901234567890123456789012345}, tmp_path)) == 35


def test_query_names_that_clash_with_url_arguments_are_ignored(world, conn, pro_batch, immediate):
    _archive, batch = pro_batch
    world.upload(batch, ("a.png", _photo_bytes("kodak-kodim05.png")), ("b.png", _photo_bytes("kodak-kodim23.png")))
    world.client.post(f"/batches/{batch}/similarity/run")
    query = "?batch_id=1&endpoint=x&_method=POST&fmt=csv&sort=size&level=near"
    for path in ("similarity", "similarity/progress", "similarity/groups"):
        response = world.client.get(f"/batches/{batch}/{path}{query}")
        assert response.status_code == 200, path
    groups = world.client.get(f"/batches/{batch}/similarity/groups{query}").data.decode()
    assert "sort=size" in groups and "endpoint=x" not in groups


@pytest.mark.parametrize("command, starts", [(None, True), ("run", True), ("flask", False), ("scan", False)])
def test_a_forced_in_process_worker_starts_in_a_server_never_in_another_flask_command(tmp_path, monkeypatch,
                                                                                      command, starts):
    """WORKER_IN_PROCESS=true is for web processes (waitress has no click context, `flask run`); `flask zeuge
    demo` (app loaded under the root `flask` context) or `flask zeuge scan` must not take queued runs."""
    import click

    from zeuge_lite import create_app
    started = []
    monkeypatch.setattr(tasks, "start_in_process_consumer", lambda: started.append(command))
    config = {"TESTING": True, "SECRET_KEY": "test", "DATABASE": str(tmp_path / "t.sqlite3"),
              "STORAGE_DIR": str(tmp_path / "storage"), "WORKER_IN_PROCESS": True}
    if command is None:
        create_app(config)
    else:
        with click.Context(click.Command(command)):
            create_app(config)
    assert started == ([command] if starts else [])


def test_a_forced_in_process_worker_never_starts_inside_the_huey_consumer(tmp_path, monkeypatch):
    """The Procfile's worker loads app.py too; with ZEUGE_WORKER_IN_PROCESS=true in a shared environment it
    would run a second consumer inside the first."""
    from zeuge_lite import create_app
    started = []
    monkeypatch.setattr(tasks, "start_in_process_consumer", lambda: started.append(True))
    monkeypatch.setattr("sys.argv", ["/srv/zeuge/.venv/bin/huey_consumer", "app.huey", "--workers", "2"])
    create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE": str(tmp_path / "t.sqlite3"),
                "STORAGE_DIR": str(tmp_path / "storage"), "WORKER_IN_PROCESS": True})
    assert started == []
    monkeypatch.setattr("sys.argv", ["/srv/zeuge/.venv/bin/waitress-serve", "app:app"])
    create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE": str(tmp_path / "t.sqlite3"),
                "STORAGE_DIR": str(tmp_path / "storage"), "WORKER_IN_PROCESS": True})
    assert started == [True]
