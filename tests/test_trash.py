"""The trash: every delete path moves items there with metadata, responses and place; restore puts them back
(re-scored without recomputing features); purge by hand, when emptied, when expired (worker task and CLI);
each change logged in the same transaction; permanent at once with TRASH_DAYS = 0."""
import pytest

from tests.conftest import image_bytes
from tests.test_analysis import _jpeg, _photo
from zeuge_lite import queries
from zeuge_lite import queries_review as qr
from zeuge_lite import queries_similarity as qs
from zeuge_lite import queries_trash as qt
from zeuge_lite import tasks
from zeuge_lite.demo import PHOTOS_DIR
from zeuge_lite.storage import Storage
from zeuge_lite.tasks import huey

COLOURS = {"a.png": (200, 0, 0), "b.png": (0, 200, 0), "c.png": (0, 0, 200), "d.png": (200, 200, 0)}


@pytest.fixture
def box(world):
    """An archivist's batch of four items; (archive, batch, {name: item id})."""
    _user, archive = world.user("keeper@x.org")
    world.login("keeper@x.org")
    batch = world.batch(archive, "Box 7")
    results = world.upload(batch, *[(n, image_bytes("PNG", color=c)) for n, c in COLOURS.items()])
    return archive, batch, {r["filename"]: r["item_id"] for r in results}


def _names(conn, batch):
    return [i["filename"] for i in queries.items_of_batch(conn, batch)]


def _entry(conn, item_id):
    return conn.execute("SELECT * FROM trash WHERE item_id = ?", (item_id,)).fetchone()


def test_delete_moves_an_item_to_the_trash_and_restore_puts_it_back_as_it_was(client, conn, box):
    archive, batch, ids = box
    client.post(f"/items/{ids['b.png']}/metadata", data={"title": "Harvest, 1931", "accession_number": "A-7"})
    client.post(f"/items/{ids['b.png']}/responses", data={"body": "Second from left is my aunt."})
    confirm = client.get(f"/items/{ids['b.png']}/delete").data.decode()
    assert "Move “b.png” to the trash?" in confirm and "30 days" in confirm and "1 response" in confirm
    done = client.post(f"/items/{ids['b.png']}/delete", follow_redirects=True).data.decode()
    assert "“b.png” moved to the trash, restorable for 30 days." in done
    assert _names(conn, batch) == ["a.png", "c.png", "d.png"]
    assert client.get(f"/items/{ids['b.png']}").status_code == 404
    assert b"b.png" not in client.get(f"/batches/{batch}/export.zip").data  # not in exports either
    page = client.get(f"/archives/{archive}/trash").data.decode()
    assert "b.png" in page and "Box 7, position 2" in page and "by Tester" in page
    entry = _entry(conn, ids["b.png"])
    assert client.get(f"/archives/{archive}/trash/{entry['id']}/thumb.jpg").status_code == 200

    client.post(f"/archives/{archive}/trash/restore", data={"entry": entry["id"]})
    assert _names(conn, batch) == ["a.png", "b.png", "c.png", "d.png"]  # back in its place, with its id
    item = client.get(f"/items/{ids['b.png']}").data.decode()
    assert "Harvest, 1931" in item and "A-7" in item and "Second from left is my aunt." in item
    assert qt.count(conn, archive) == 0
    actions = [e["action"] for e in qr.audit_entries(conn, archive)]
    assert actions[:2] == ["restore", "trash"]
    assert "“b.png” (Harvest, 1931)" in qr.audit_entries(conn, archive)[0]["detail"]


def test_every_delete_path_goes_to_the_trash(client, conn, box):
    archive, batch, ids = box
    client.post(f"/items/{ids['a.png']}/delete")  # the Items tab links here, and the item page
    client.post(f"/batches/{batch}/delete")  # the batch's own delete
    assert qt.count(conn, archive) == 4 and conn.execute("SELECT count(*) FROM items").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 4  # files stay until purge
    assert {e["action"] for e in qr.audit_entries(conn, archive)} == {"trash"}


def test_restoring_into_a_deleted_batch_makes_it_again_and_a_taken_id_gives_a_new_one(client, conn, world, box):
    archive, batch, ids = box
    client.post(f"/batches/{batch}/delete")
    assert client.get(f"/batches/{batch}/items").status_code == 404
    reused = world.batch(archive, "New box")  # SQLite may hand the deleted batch's id to a new batch
    entries = [_entry(conn, ids[n])["id"] for n in ("c.png", "a.png")]
    client.post(f"/archives/{archive}/trash/restore", data={"entry": entries})
    boxes = [b for b in queries.batches_of_archive(conn, archive) if b["name"] == "Box 7"]
    assert len(boxes) == 1 and boxes[0]["id"] != reused
    assert _names(conn, boxes[0]["id"]) == ["a.png", "c.png"] and _names(conn, reused) == []

    client.post(f"/items/{ids['a.png']}/delete")
    taken = world.upload(boxes[0]["id"], ("e.png", image_bytes("PNG", color=(9, 9, 9))))[0]["item_id"]
    conn.execute("UPDATE items SET id = ? WHERE id = ?", (ids["a.png"], taken))  # its old id is in use now
    client.post(f"/archives/{archive}/trash/restore", data={"entry": _entry(conn, ids["a.png"])["id"]})
    assert sorted(_names(conn, boxes[0]["id"])) == ["a.png", "c.png", "e.png"]


def test_purge_by_hand_and_empty_need_a_confirmation_and_remove_unused_files(app, client, conn, world, box):
    archive, batch, ids = box
    storage = Storage(app.config["STORAGE_DIR"])
    other = world.batch(archive, "Box 8")
    world.upload(other, ("same-as-a.png", image_bytes("PNG", color=COLOURS["a.png"])))  # shares a.png's file
    for name in ("a.png", "b.png", "c.png"):
        client.post(f"/items/{ids[name]}/delete")
    sha = {name: _entry(conn, ids[name])["sha256"] for name in ("a.png", "b.png", "c.png")}
    picked = [_entry(conn, ids[n])["id"] for n in ("a.png", "b.png")]
    confirm = client.get(f"/archives/{archive}/trash/purge", query_string={"entry": picked}).data.decode()
    assert "Delete 2 items permanently?" in confirm and "cannot be undone" in confirm
    assert qt.count(conn, archive) == 3  # a confirmation only looks
    client.post(f"/archives/{archive}/trash/purge", data={"entry": picked})
    assert qt.count(conn, archive) == 1
    assert storage.original_path(sha["a.png"], "png").exists()  # Box 8 still uses it
    assert not storage.original_path(sha["b.png"], "png").exists()
    assert "Empty the trash?" in client.get(f"/archives/{archive}/trash/purge?all=yes").data.decode()
    client.post(f"/archives/{archive}/trash/purge", data={"all": "yes"})
    assert qt.count(conn, archive) == 0 and not storage.original_path(sha["c.png"], "png").exists()
    assert qr.audit_entries(conn, archive)[0]["action"] == "purge"
    assert client.post(f"/archives/{archive}/trash/restore").status_code == 422  # nothing ticked


def test_expired_entries_are_purged_by_the_worker_task_and_the_cli(app, client, conn, runner, box):
    archive, _batch, ids = box
    for name in ("a.png", "b.png", "c.png"):
        client.post(f"/items/{ids[name]}/delete")
    conn.execute("UPDATE trash SET expires_at = datetime('now', '-1 minute') WHERE item_id = ?", (ids["a.png"],))
    assert tasks.purge_expired_trash.call_local() == 1  # what the worker runs every hour
    assert _entry(conn, ids["a.png"]) is None and _entry(conn, ids["b.png"]) is not None
    conn.execute("UPDATE trash SET expires_at = datetime('now', '-1 day')")
    result = runner.invoke(args=["zeuge", "purge"])
    assert "2 expired items deleted from the trash permanently." in result.output
    assert qt.count(conn, archive) == 0
    assert any("their time in the trash was over" in e["detail"] for e in qr.audit_entries(conn, archive))


def test_the_worker_schedules_the_purge_every_hour():
    from datetime import datetime
    due = [[t.name for t in huey.read_periodic(datetime(2026, 12, 1, hour, minute))]
           for hour, minute in ((3, 17), (4, 17), (4, 18))]
    assert ["purge_expired_trash" in names for names in due] == [True, True, False]


def test_a_failed_audit_entry_moves_nothing(client, conn, box, monkeypatch):
    archive, batch, ids = box

    def broken(*_args, **_kwargs):
        raise RuntimeError("the audit log could not be written")
    monkeypatch.setattr(qr, "log_action", broken)
    with pytest.raises(RuntimeError):
        client.post(f"/items/{ids['a.png']}/delete")
    assert _names(conn, batch) == list(COLOURS) and qt.count(conn, archive) == 0


def test_viewers_cannot_open_the_trash(client, world, conn, box):
    archive, _batch, ids = box
    client.post(f"/items/{ids['a.png']}/delete")
    viewer, _own = world.user("viewer@x.org")
    queries.add_member(conn, archive, viewer, "viewer")
    world.login("viewer@x.org")
    assert client.get(f"/archives/{archive}/trash").status_code == 403
    entry = _entry(conn, ids["a.png"])["id"]
    assert client.post(f"/archives/{archive}/trash/restore", data={"entry": entry}).status_code == 403


def test_a_restored_item_is_back_in_its_group_at_once_and_a_run_recomputes_no_features(client, conn, world):
    huey.immediate = True
    try:
        archive, batch = world.own_batch("scores@x.org")
        world.upload(batch, ("kodim23.png", (PHOTOS_DIR / "kodak-kodim23.png").read_bytes()),
                     ("copy.jpg", _jpeg(_photo("kodak-kodim23.png"), 80)),
                     ("coffee.png", (PHOTOS_DIR / "skimage-coffee.png").read_bytes()))
        client.post(f"/batches/{batch}/similarity/run")
        copy_id = next(i["id"] for i in queries.items_of_batch(conn, batch) if i["filename"] == "copy.jpg")
        assert "1 group found" in client.get(f"/batches/{batch}/similarity/groups").data.decode()
        original = next(i["id"] for i in queries.items_of_batch(conn, batch) if i["filename"] == "kodim23.png")
        before = qs.batch_scores(conn, batch, "efficientnet-lite0")[original]
        client.post(f"/items/{copy_id}/delete")
        assert "0 groups found" in client.get(f"/batches/{batch}/similarity/groups").data.decode()
        alone = qs.batch_scores(conn, batch, "efficientnet-lite0")[original]
        assert before < 0.05 and alone > 0.2  # its copy went: more unique at once, no run needed
        client.post(f"/archives/{archive}/trash/restore", data={"entry": _entry(conn, copy_id)["id"]})
        assert "1 group found" in client.get(f"/batches/{batch}/similarity/groups").data.decode()  # at once
        scores = qs.batch_scores(conn, batch, "efficientnet-lite0")
        assert scores[original] == pytest.approx(before) and scores[copy_id] < 0.05
        client.post(f"/batches/{batch}/similarity/run")
        run = qs.latest_run(conn, batch)
        assert run["status"] == "done" and run["computed"] == 0  # its features were kept
        assert "1 group found" in client.get(f"/batches/{batch}/similarity/groups").data.decode()
    finally:
        huey.immediate = False


def test_with_no_trash_a_delete_is_permanent_and_says_so(app, client, conn, box):
    app.config["TRASH_DAYS"] = 0
    archive, batch, ids = box
    assert "Delete “a.png” permanently?" in client.get(f"/items/{ids['a.png']}/delete").data.decode()
    done = client.post(f"/items/{ids['a.png']}/delete", follow_redirects=True).data.decode()
    assert "“a.png” deleted permanently, with metadata and responses." in done
    assert qt.count(conn, archive) == 0 and qr.audit_entries(conn, archive)[0]["action"] == "delete"
