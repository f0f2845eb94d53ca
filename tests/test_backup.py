"""Backup, restore and check on real SQLite files with sqlite-vec: a backup taken while a real huey_consumer is
mid-run and the web goes on writing, incremental copies, a restore that refuses to overwrite, and check/--fix."""
import io
import json
import os
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import CHEAP_HASH, PASSWORD, image_bytes
from tests.e2e.conftest import start_process, stop_process
from zeuge_lite import analysis, backup, create_app, queries, review, trash
from zeuge_lite import queries_similarity as qs
from zeuge_lite.db import connect, migrate
from zeuge_lite.demo import PHOTOS_DIR
from zeuge_lite.schema import MIGRATIONS
from zeuge_lite.storage import Storage, sha256_hex
from zeuge_lite.tasks import huey

MODEL = "efficientnet-lite0"
OLD = time.time() - 2 * backup.ORPHAN_GRACE_S


def _make_app(folder, **extra):
    """An app with its own database and storage under folder (as conftest's, for a second instance)."""
    return create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE": str(folder / "zeuge.sqlite3"),
                       "STORAGE_DIR": str(folder / "storage"), "MODEL_DIR": str(folder / "models"),
                       "WTF_CSRF_ENABLED": False, "PASSWORD_HASH_METHOD": CHEAP_HASH, **extra})


def _wait_for(condition, what, timeout_s=90):
    """Poll a condition until it holds (a worker process gives no other signal), failing after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _jpeg(name, size=None, quality=80):
    image = Image.open(PHOTOS_DIR / name).convert("RGB")
    if size:
        image = image.resize(size)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _invoke(app, *args):
    return app.test_cli_runner().invoke(args=["zeuge", *args])


# State that must come back from a restore. Runs and features of a run still going on are compared apart.
STATE_QUERIES = {
    "users": "SELECT id, email, name, password_hash FROM users ORDER BY id",
    "archives": "SELECT * FROM archives ORDER BY id",
    "memberships": "SELECT * FROM memberships ORDER BY user_id, archive_id",
    "batches": "SELECT * FROM batches ORDER BY id",
    "items": "SELECT * FROM items ORDER BY id",
    "files": "SELECT * FROM files ORDER BY sha256",
    "responses": "SELECT * FROM responses ORDER BY id",
    "dismissals": "SELECT * FROM dismissals ORDER BY sha_a, sha_b",
    "audit_log": "SELECT * FROM audit_log ORDER BY id",
    "pairs": "SELECT * FROM pairs ORDER BY model, a_item, b_item",
    "item_scores": "SELECT * FROM item_scores ORDER BY item_id, model",
}


def _state(conn):
    return {name: [tuple(row) for row in conn.execute(sql)] for name, sql in STATE_QUERIES.items()}


def _features_of_batch(conn, batch_id):
    return [tuple(row) for row in conn.execute(
        "SELECT f.* FROM features f WHERE f.sha256 IN (SELECT sha256 FROM items WHERE batch_id = ?) "
        "ORDER BY f.id", (batch_id,))]


def _block_reading(storage, item):
    """Put a FIFO in place of an item's original: a worker analysing it waits until it is fed.

    This makes "mid-run" certain rather than a matter of timing. Returns the function that feeds the worker the
    original's bytes and puts the real file back."""
    path = storage.original_path(item["sha256"], item["ext"])
    data = path.read_bytes()
    path.unlink()
    os.mkfifo(path)

    def feed():
        with open(path, "wb") as pipe:  # waits for the worker to open its end, if it has not yet
            pipe.write(data)
        spare = path.with_name("spare")
        spare.write_bytes(data)
        os.replace(spare, path)
    return feed


def _consumer(app, tmp_path):
    """A real `huey_consumer app.huey` process on the test app's database, storage and queue."""
    env = dict(os.environ, ZEUGE_DATABASE=app.config["DATABASE"], ZEUGE_STORAGE_DIR=app.config["STORAGE_DIR"],
               ZEUGE_HUEY_DB=app.config["HUEY_DB"], ZEUGE_SECRET_KEY="backup-test-" + "k" * 32,
               ZEUGE_WORKER_IN_PROCESS="false", ZEUGE_MODEL_DIR=app.config["MODEL_DIR"])
    return start_process([sys.executable, "-m", "huey.bin.huey_consumer", "app.huey", "-w", "1"], env,
                         tmp_path / "consumer.log")


@pytest.fixture
def archive(world):
    """A pro archive with a logged-in owner; returns (user id, archive id)."""
    ids = world.user("an@x.org", plan="pro")
    world.login("an@x.org")
    return ids


def _reviewed_batch(client, conn, world, archive_id):
    """A batch analysed (huey immediate), with metadata, a response, a "not duplicates" decision and its audit."""
    batch_id = world.batch(archive_id, "Box A")
    world.upload(batch_id, ("kodim05.png", (PHOTOS_DIR / "kodak-kodim05.png").read_bytes()),
                 ("kodim05-rescan.jpg", _jpeg("kodak-kodim05.png", (500, 333), 70)),
                 ("coffee.jpg", _jpeg("skimage-coffee.png")))
    huey.immediate = True
    try:
        assert client.post(f"/batches/{batch_id}/similarity/run").status_code == 200
    finally:
        huey.immediate = False
    assert qs.latest_run(conn, batch_id)["status"] == "done"
    items = {i["filename"]: i["id"] for i in queries.items_of_batch(conn, batch_id)}
    client.post(f"/items/{items['kodim05.png']}/metadata", data={
        "title": "Harbour, 1952", "description": "Boats at the quay", "creator": "A. Photographer",
        "date": "1952", "subject": "harbour; boats", "accession_number": "ACC-7"})
    client.post(f"/items/{items['coffee.jpg']}/responses", data={"body": "My aunt's café"})
    key = review.group_key([items["kodim05.png"], items["kodim05-rescan.jpg"]])
    assert client.post(f"/batches/{batch_id}/similarity/group/{key}/dismiss").status_code == 200
    return batch_id


def test_a_backup_taken_mid_run_while_the_web_writes_restores_everything(app, client, conn, world, archive,
                                                                         tmp_path):
    app.config["ANALYSIS_WORKERS"] = 1
    storage = Storage(app.config["STORAGE_DIR"])
    batch_a = _reviewed_batch(client, conn, world, archive[1])
    batch_b = world.batch(archive[1], "Box B")
    world.upload(batch_b, ("kodim23.jpg", _jpeg("kodak-kodim23.png", (384, 256))),
                 ("chelsea.jpg", _jpeg("skimage-chelsea.png")), ("rocket.jpg", _jpeg("skimage-rocket.jpg")))
    feed_worker = _block_reading(storage, queries.items_of_batch(conn, batch_b)[-1])
    consumer = _consumer(app, tmp_path)
    try:
        client.post(f"/batches/{batch_b}/similarity/run")
        run_b = qs.latest_run(conn, batch_b)["id"]
        _wait_for(lambda: qs.run_by_id(conn, run_b)["stage"] == "analysing photos", "the worker to start run B")
        expected, expected_features = _state(conn), _features_of_batch(conn, batch_a)
        run_a = dict(qs.latest_run(conn, batch_a))
        fed = []

        def meanwhile(stage, done, _total):
            """Once the snapshot is taken: let the worker finish its run, and upload and write on the web."""
            if stage == "originals" and done == 0 and not fed:
                fed.append(True)
                feed_worker()
                _wait_for(lambda: qs.run_by_id(conn, run_b)["status"] == "done", "the worker to finish run B")
                world.upload(batch_b, ("late.jpg", _jpeg("kodak-kodim13.png")))
                client.post(f"/items/{queries.items_of_batch(conn, batch_a)[0]['id']}/responses",
                            data={"body": "written after the snapshot"})

        dest = tmp_path / "backup"
        report = backup.backup(app.config["DATABASE"], storage, dest, progress=meanwhile)
    finally:
        stop_process(consumer)
    assert fed and report.problems == [] and report.snapshots == 1
    assert report.originals.copied == len(expected["files"]) == 6
    with connect(dest / backup.DB_NAME) as snapshot:
        assert qs.run_by_id(snapshot, run_b)["status"] == "running"  # taken mid-run
    manifest = json.loads((dest / backup.MANIFEST_NAME).read_text())
    assert manifest["schema_version"] == len(MIGRATIONS) and manifest["counts"]["items"] == 6
    assert manifest["app_version"] and manifest["created_at"] and manifest["counts"]["dismissals"] == 1

    target = tmp_path / "new-box"
    restored_app = _make_app(target)
    migrate(connect(restored_app.config["DATABASE"]))  # a started, empty install may be restored into
    result = _invoke(restored_app, "restore", str(dest))
    assert result.exit_code == 0, result.output
    restored = connect(restored_app.config["DATABASE"])
    assert _state(restored) == expected  # not the upload and response written after the snapshot
    assert _features_of_batch(restored, batch_a) == expected_features
    assert dict(qs.run_by_id(restored, run_a["id"])) == run_a
    failed = qs.run_by_id(restored, run_b)
    assert (failed["status"], failed["error"]) == ("failed", backup.RESTORED_RUN_REASON)
    restored_storage = Storage(restored_app.config["STORAGE_DIR"])
    for sha256, _size, ext, *_rest in expected["files"]:
        assert sha256_hex(restored_storage.original_path(sha256, ext).read_bytes()) == sha256
        assert restored_storage.derived_path("thumb", sha256).is_file()
    assert restored.execute("SELECT count(*) FROM audit_log WHERE action = 'not duplicates'").fetchone()[0] == 1
    kodim05 = next(i for i in queries.items_of_batch(restored, batch_a) if i["filename"] == "kodim05.png")
    found = analysis.similar_to_item(restored, MODEL, kodim05["id"], k=2, batch_id=batch_a)
    assert found[0][0]["filename"] == "kodim05-rescan.jpg"  # the vec0 index came back
    web = restored_app.test_client()
    web.post("/login", data={"email": "an@x.org", "password": PASSWORD})
    assert "Harbour, 1952" in web.get(f"/items/{kodim05['id']}").data.decode()
    assert analysis.start_or_get_run(restored, batch_b, MODEL, {}, None)[1]  # the failed run blocks nothing
    restored.close()


def test_a_second_backup_copies_only_new_originals(app, conn, world, archive, tmp_path):
    batch_id = world.batch(archive[1])
    world.upload(batch_id, ("a.jpg", image_bytes(color=(200, 0, 0))), ("b.png", image_bytes("PNG", color=(0, 90, 0))))
    dest = tmp_path / "backup"
    first = _invoke(app, "backup", str(dest))
    assert first.exit_code == 0, first.output
    assert "originals: 2 copied" in first.output
    kept = list((dest / "storage" / "originals").rglob("*.*"))
    inodes = {path: path.stat().st_ino for path in kept}
    world.upload(batch_id, ("c.jpg", image_bytes(color=(0, 0, 220))))
    leftover = kept[0].with_name(kept[0].name + ".x1.part")  # what an interrupted run leaves
    leftover.write_bytes(b"half a file")
    report = backup.backup(app.config["DATABASE"], Storage(app.config["STORAGE_DIR"]), dest)
    assert (report.originals.copied, report.originals.present) == (1, 2)
    assert (report.derived.copied, report.derived.present) == (2, 4)
    assert {path: path.stat().st_ino for path in kept} == inodes  # not rewritten
    assert not leftover.exists()
    assert json.loads((dest / backup.MANIFEST_NAME).read_text())["counts"]["items"] == 3


def test_a_backup_repairs_a_damaged_copy_and_verify_finds_same_size_damage(app, conn, world, archive, tmp_path):
    batch_id = world.batch(archive[1])
    world.upload(batch_id, ("a.jpg", image_bytes(color=(200, 0, 0))))
    storage, dest = Storage(app.config["STORAGE_DIR"]), tmp_path / "backup"
    backup.backup(app.config["DATABASE"], storage, dest)
    item = queries.items_of_batch(conn, batch_id)[0]
    copy = Storage(dest / "storage").original_path(item["sha256"], item["ext"])
    copy.write_bytes(copy.read_bytes()[:100])
    assert backup.backup(app.config["DATABASE"], storage, dest).originals.copied == 1
    data = bytearray(copy.read_bytes())
    data[-3] ^= 0xFF
    copy.write_bytes(bytes(data))
    assert backup.backup(app.config["DATABASE"], storage, dest).originals.copied == 0  # same size: trusted
    assert backup.backup(app.config["DATABASE"], storage, dest, verify=True).originals.copied == 1
    assert sha256_hex(copy.read_bytes()) == item["sha256"]


def test_an_item_deleted_during_the_backup_leaves_a_consistent_backup(app, conn, world, archive, tmp_path):
    batch_id = world.batch(archive[1])
    world.upload(batch_id, ("a.jpg", image_bytes(color=(200, 0, 0))), ("b.jpg", image_bytes(color=(0, 0, 200))))
    storage, doomed = Storage(app.config["STORAGE_DIR"]), queries.items_of_batch(conn, batch_id)[0]

    def delete_after_the_snapshot(stage, done, _total):
        if stage == "originals" and done == 0 and queries.file_in_use(conn, doomed["sha256"]):
            trash.remove_items(conn, storage, archive[1], [doomed], None, days=0)

    report = backup.backup(app.config["DATABASE"], storage, tmp_path / "backup", progress=delete_after_the_snapshot)
    assert report.problems == [] and report.snapshots == 2 and report.counts["items"] == 1
    with connect(tmp_path / "backup" / backup.DB_NAME) as snapshot:
        assert [i["filename"] for i in queries.items_of_batch(snapshot, batch_id)] == ["b.jpg"]


def test_a_missing_live_original_is_reported_and_the_exit_code_says_so(app, conn, world, archive, tmp_path):
    batch_id = world.batch(archive[1])
    world.upload(batch_id, ("a.jpg", image_bytes(color=(200, 0, 0))))
    item = queries.items_of_batch(conn, batch_id)[0]
    Storage(app.config["STORAGE_DIR"]).original_path(item["sha256"], item["ext"]).unlink()
    result = _invoke(app, "backup", str(tmp_path / "backup"))
    assert result.exit_code == 1 and "original missing" in result.output


@pytest.fixture
def source_backup(app, world, archive, tmp_path):
    """A backup of the test app with one batch of two items."""
    batch_id = world.batch(archive[1])
    world.upload(batch_id, ("a.jpg", image_bytes(color=(200, 0, 0))), ("b.jpg", image_bytes(color=(0, 0, 200))))
    backup.backup(app.config["DATABASE"], Storage(app.config["STORAGE_DIR"]), tmp_path / "backup")
    return tmp_path / "backup"


def test_restore_refuses_a_database_with_data_unless_forced(source_backup, tmp_path):
    target_app = _make_app(tmp_path / "busy")
    with target_app.app_context():
        from zeuge_lite.auth import register_user
        conn = connect(target_app.config["DATABASE"])
        migrate(conn)
        register_user(conn, "other@x.org", "Other", PASSWORD, "Other archive", "free")
        conn.close()
    refused = _invoke(target_app, "restore", str(source_backup))
    assert refused.exit_code != 0 and "already holds data" in refused.output
    conn = connect(target_app.config["DATABASE"])
    assert [u["email"] for u in conn.execute("SELECT email FROM users")] == ["other@x.org"]
    assert not list((tmp_path / "busy" / "storage").rglob("*.jpg"))  # refused before copying anything
    conn.close()  # as the app must be stopped: an open connection would go on with the replaced file
    forced = _invoke(target_app, "restore", str(source_backup), "--force")
    assert forced.exit_code == 0, forced.output
    conn = connect(target_app.config["DATABASE"])
    assert [u["email"] for u in conn.execute("SELECT email FROM users")] == ["an@x.org"]
    assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 2
    conn.close()


def test_restore_checks_every_original_against_its_sha256(source_backup, tmp_path):
    with connect(source_backup / backup.DB_NAME) as snapshot:
        row = snapshot.execute("SELECT sha256, ext FROM files ORDER BY sha256").fetchone()
    damaged = Storage(source_backup / "storage").original_path(row["sha256"], row["ext"])
    data = bytearray(damaged.read_bytes())
    data[-3] ^= 0xFF
    damaged.write_bytes(bytes(data))
    target_app = _make_app(tmp_path / "new-box")
    result = _invoke(target_app, "restore", str(source_backup))
    assert result.exit_code == 1 and "damaged in the backup" in result.output
    live = Storage(target_app.config["STORAGE_DIR"])
    assert not live.original_path(row["sha256"], row["ext"]).exists()  # a wrong copy is never put in place
    assert len(list((tmp_path / "new-box" / "storage" / "originals").rglob("*.jpg"))) == 1


def test_restore_refuses_a_folder_that_is_not_a_backup(tmp_path):
    result = _invoke(_make_app(tmp_path / "new-box"), "restore", str(tmp_path))
    assert result.exit_code != 0 and "is not a Zeuge Lite backup" in result.output


def _age(path):
    os.utime(path, (OLD, OLD))
    return path


def test_check_reports_then_fixes_what_it_can_and_never_deletes_data(app, conn, world, archive):
    batch_id = world.batch(archive[1])
    world.upload(batch_id, ("a.jpg", image_bytes(color=(200, 0, 0))), ("b.jpg", image_bytes(color=(0, 0, 200))),
                 ("c.png", image_bytes("PNG", color=(0, 120, 0))))
    storage = Storage(app.config["STORAGE_DIR"])
    lost, thumbless, _ = queries.items_of_batch(conn, batch_id)
    lost_path = storage.original_path(lost["sha256"], lost["ext"])
    lost_bytes = lost_path.read_bytes()
    lost_path.unlink()
    thumb = storage.derived_path("thumb", thumbless["sha256"])
    thumb.unlink()
    orphan = _age(_touch(storage.original_path("f" * 64, "jpg")))
    temp = _age(_touch(Path(storage.root) / "preview" / "ab" / ".x.jpg.k3j.part"))
    recent = _touch(storage.original_path("e" * 64, "png"))  # maybe an upload under way

    report = _invoke(app, "check")
    assert report.exit_code == 1
    remake = f"thumb missing, would make again from the original: {thumbless['sha256']}"
    for expected in (f"original missing: {lost_path}", f"item {lost['id']} “a.jpg”", f"would remove: {orphan}",
                     f"would remove: {temp}", remake, f"left alone: {recent}", "4 problems; `--fix` mends 3"):
        assert expected in report.output, report.output
    assert orphan.exists() and temp.exists() and not thumb.exists()  # a check alone changes nothing

    fixed = _invoke(app, "check", "--fix")
    assert fixed.exit_code == 1 and "1 problems remain" in fixed.output, fixed.output
    assert not orphan.exists() and not temp.exists() and recent.exists()
    with Image.open(thumb) as image:
        assert image.format == "JPEG" and max(image.size) <= app.config["THUMB_SIZE"]
    assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 3  # the lost original's item stays

    again = _invoke(app, "check")
    assert again.exit_code == 1 and "original missing" in again.output and "would" not in again.output
    lost_path.write_bytes(lost_bytes)  # brought back from a backup
    recent.unlink()
    clean = _invoke(app, "check")
    assert clean.exit_code == 0 and "No problems found." in clean.output, clean.output


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"partial")
    return path


def test_check_reports_rows_that_point_nowhere(app, conn, world, archive):
    conn.execute("PRAGMA foreign_keys = OFF")
    conn.execute("INSERT INTO responses (item_id, body) VALUES (999, 'orphaned')")
    result = _invoke(app, "check")
    assert result.exit_code == 1 and "database: responses row 1 points at a missing items row" in result.output
    conn.execute("DELETE FROM responses")
    assert _invoke(app, "check").exit_code == 0
