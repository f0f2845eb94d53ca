"""The review screen: expand, keep-best, delete, place together, not duplicates (remembered), metadata
compare and consolidation, exports, audit log; viewers, CSRF."""
import csv
import io
import json

import pytest
from PIL import Image, ImageFilter

from tests.test_analysis import _jpeg, _photo
from zeuge_lite import analysis, create_app, queries
from zeuge_lite import queries_review as qr
from zeuge_lite.demo import PHOTOS_DIR
from zeuge_lite.review import together_order
from zeuge_lite.tasks import huey


@pytest.fixture
def analysed(world, client, conn):
    """A pro batch with a three-copy group of kodim05 (best: the PNG) and other photos, analysed."""
    huey.immediate = True
    _user, archive = world.user("rev@x.org")
    world.login("rev@x.org")
    batch = world.batch(archive)
    kodim05 = _photo("kodak-kodim05.png")
    world.upload(batch, ("first.png", (PHOTOS_DIR / "kodak-kodim23.png").read_bytes()),
                 ("small.jpg", _jpeg(kodim05.resize((384, 256)), 70)),
                 ("master.png", (PHOTOS_DIR / "kodak-kodim05.png").read_bytes()),
                 ("coffee.png", (PHOTOS_DIR / "skimage-coffee.png").read_bytes()),
                 ("blurred.jpg", _jpeg(kodim05.filter(ImageFilter.GaussianBlur(1.5)), 80)))
    client.post(f"/batches/{batch}/similarity/run")
    yield batch, archive, {i["filename"]: i["id"] for i in queries.items_of_batch(conn, batch)}
    huey.immediate = False


def _key(ids, *names):
    return "-".join(str(i) for i in sorted(ids[n] for n in names))


GROUP = ("small.jpg", "master.png", "blurred.jpg")


def test_groups_list_and_expanded_card_with_keeper_reasons(client, analysed):
    batch, _archive, ids = analysed
    listing = client.get(f"/batches/{batch}/similarity/groups").data.decode()
    assert "1 group found" in listing and _key(ids, *GROUP) in listing
    card = client.get(f"/batches/{batch}/similarity/group/{_key(ids, *GROUP)}").data.decode()
    assert "Suggested keeper: <strong>master.png</strong>" in card and "lossless PNG where others are lossy" in card
    assert "768 × 512" in card and "Sharpness" in card and "in the batch" in card
    reload = client.get(f"/batches/{batch}/similarity?open={_key(ids, *GROUP)}").data.decode()
    assert f'id="groups" hx-get="/batches/{batch}/similarity/groups?open={_key(ids, *GROUP)}"' in reload


def test_delete_needs_a_confirmation_then_removes_exactly_like_the_items_tab(client, conn, analysed):
    batch, archive, ids = analysed
    key = _key(ids, *GROUP)
    client.post(f"/items/{ids['small.jpg']}/responses", data={"body": "a note"})
    confirm = client.get(f"/batches/{batch}/similarity/group/{key}/delete?keep=suggested").data.decode()
    assert "cannot be undone" in confirm and "small.jpg" in confirm and "blurred.jpg" in confirm
    assert queries.items_of_batch(conn, batch) and len(queries.items_of_batch(conn, batch)) == 5  # nothing yet
    after = client.post(f"/batches/{batch}/similarity/group/{key}/delete",
                        data={"item": [ids["small.jpg"], ids["blurred.jpg"]]}).data.decode()
    assert "Group resolved" in after and "Deleted permanently" in after
    assert sorted(i["filename"] for i in queries.items_of_batch(conn, batch)) == ["coffee.png", "first.png",
                                                                                 "master.png"]
    assert conn.execute("SELECT count(*) FROM responses").fetchone()[0] == 0
    entry = qr.audit_entries(conn, archive)[0]
    assert entry["action"] == "delete" and entry["group_key"] == key and "small.jpg" in entry["detail"]


def test_delete_without_a_choice_or_of_every_copy_is_refused(client, conn, analysed):
    batch, _archive, ids = analysed
    key = _key(ids, *GROUP)
    assert client.post(f"/batches/{batch}/similarity/group/{key}/delete").status_code == 422
    every = {"item": [ids[n] for n in GROUP]}
    assert client.post(f"/batches/{batch}/similarity/group/{key}/delete", data=every).status_code == 422
    assert len(queries.items_of_batch(conn, batch)) == 5


def test_place_together_moves_members_after_the_first_of_them(client, conn, analysed):
    batch, _archive, ids = analysed
    response = client.post(f"/batches/{batch}/similarity/group/{_key(ids, *GROUP)}/place-together")
    assert b"Placed together at positions 2" in response.data
    order = [i["filename"] for i in queries.items_of_batch(conn, batch)]
    assert order == ["first.png", "small.jpg", "master.png", "blurred.jpg", "coffee.png"]


def test_together_order_uses_capture_time_when_every_member_has_one():
    members = [{"id": 5, "taken_at": "1931-05-02"}, {"id": 2, "taken_at": "1931-05-01"}]
    assert together_order([1, 2, 3, 4, 5], members) == [1, 2, 5, 3, 4]
    undated = [{"id": 5, "taken_at": None}, {"id": 2, "taken_at": "1931-05-01"}]
    assert together_order([1, 5, 3, 2], undated) == [1, 5, 2, 3]


def test_not_duplicates_is_remembered_across_reruns_and_reuploads_and_can_be_undone(client, world, conn,
                                                                                     analysed):
    batch, archive, ids = analysed
    key = _key(ids, *GROUP)
    assert b"Marked as not duplicates" in client.post(f"/batches/{batch}/similarity/group/{key}/dismiss").data
    assert b"0 groups found" in client.get(f"/batches/{batch}/similarity/groups").data
    client.post(f"/items/{ids['small.jpg']}/delete")  # re-upload the same file: still dismissed
    world.upload(batch, ("small-again.jpg", _jpeg(_photo("kodak-kodim05.png").resize((384, 256)), 70)))
    client.post(f"/batches/{batch}/similarity/run")
    assert b"0 groups found" in client.get(f"/batches/{batch}/similarity/groups").data
    listing = client.get(f"/batches/{batch}/similarity/dismissals").data.decode()
    assert listing.count(">Undo<") == 3
    for sha_a, sha_b in qr.dismissed_pairs(conn, archive):
        client.post(f"/batches/{batch}/similarity/dismissals/undo", data={"sha_a": sha_a, "sha_b": sha_b})
    assert b"1 group found" in client.get(f"/batches/{batch}/similarity/groups").data


def test_one_member_can_be_marked_not_a_duplicate(client, analysed):
    batch, _archive, ids = analysed
    card = client.post(f"/batches/{batch}/similarity/group/{_key(ids, *GROUP)}/dismiss",
                       data={"member": ids["blurred.jpg"]}).data.decode()
    assert "blurred.jpg" not in card and "master.png" in card
    listing = client.get(f"/batches/{batch}/similarity/groups").data.decode()
    assert _key(ids, "small.jpg", "master.png") in listing


def test_metadata_compare_and_copy_to_keeper(client, conn, analysed):
    batch, archive, ids = analysed
    key = _key(ids, *GROUP)
    client.post(f"/items/{ids['small.jpg']}/metadata", data={"title": "Motor race, 1955"})
    table = client.get(f"/batches/{batch}/similarity/group/{key}/compare").data.decode()
    assert 'class="differs"' in table and "Motor race, 1955" in table and "copy to keeper" in table
    client.post(f"/batches/{batch}/similarity/group/{key}/copy",
                data={"field": "title", "source": ids["small.jpg"], "target": ids["master.png"]})
    master = conn.execute("SELECT title FROM items WHERE id = ?", (ids["master.png"],)).fetchone()[0]
    assert master == "Motor race, 1955"
    bad = client.post(f"/batches/{batch}/similarity/group/{key}/copy",
                      data={"field": "sha256", "source": ids["small.jpg"], "target": ids["master.png"]})
    assert bad.status_code == 422
    assert qr.audit_entries(conn, archive)[0]["action"] == "copy metadata"


def test_exports_json_csv_html(client, analysed):
    batch, _archive, ids = analysed
    report = client.get(f"/batches/{batch}/similarity/export.json").get_json()
    assert set(report) >= {"model", "threshold", "items", "errors", "groups"}
    assert sorted(i["path"] for i in report["groups"][0]["items"]) == sorted(GROUP)
    rows = list(csv.DictReader(io.StringIO(client.get(f"/batches/{batch}/similarity/export.csv").data.decode())))
    assert [r["path"] for r in rows if r["suggested_keeper"] == "yes"] == ["master.png"]
    html = client.get(f"/batches/{batch}/similarity/export.html").data.decode()
    assert html.count("data:image/jpeg;base64,") == 3 and "<style>" in html


def test_viewer_can_look_but_not_act_and_audit_is_for_owners(client, world, conn, analysed):
    batch, archive, ids = analysed
    viewer, _own = world.user("view@x.org")
    queries.add_member(conn, archive, viewer, "viewer")
    world.logout()
    world.login("view@x.org")
    key = _key(ids, *GROUP)
    assert client.get(f"/batches/{batch}/similarity/group/{key}").status_code == 200
    for action in ("delete", "place-together", "dismiss"):
        assert client.post(f"/batches/{batch}/similarity/group/{key}/{action}",
                           data={"item": ids["small.jpg"]}).status_code == 403
    assert client.get(f"/archives/{archive}/audit").status_code == 403
    assert len(queries.items_of_batch(conn, batch)) == 5


def test_review_actions_need_the_csrf_token(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp_path / "db.sqlite3"),
                      "STORAGE_DIR": str(tmp_path / "s"), "MODEL_DIR": str(tmp_path / "m")})
    client = app.test_client()
    assert client.post("/batches/1/similarity/group/1-2/delete").status_code == 400
