"""The audit trail: reorders (drag, arrows, typed positions), copies that ask before overwriting and log what
they overwrote, undo from the log (a copied value, a move to the trash) once and by owners only, names not ids."""
import re

from tests import test_review
from tests.test_review import GROUP, _key
from zeuge_lite import queries
from zeuge_lite import queries_review as qr

analysed = test_review.analysed  # the review tests' analysed batch, as a fixture here too


def _latest(conn, archive):
    return qr.audit_entries(conn, archive)[0]


def test_every_way_of_reordering_is_logged_with_names_and_positions(client, conn, analysed):
    batch, archive, ids = analysed
    order = queries.item_ids_in_order(conn, batch)
    names = {i: n for n, i in ids.items()}
    client.post(f"/batches/{batch}/items/{order[2]}/move", data={"direction": "earlier", "order_version": 0})
    entry = _latest(conn, archive)
    assert entry["action"] == "reorder" and f"“{names[order[2]]}” from 3 to 2 (arrow)" in entry["detail"]
    client.post(f"/batches/{batch}/items/{order[0]}/move", data={f"position-{order[0]}": "5", "order_version": 1})
    assert f"“{names[order[0]]}” from 1 to 5 (typed position)" in _latest(conn, archive)["detail"]
    now = queries.item_ids_in_order(conn, batch)
    client.post(f"/batches/{batch}/order", data={"item": [now[3], now[0], now[1], now[2]], "offset": 0,
                                                  "order_version": 2})
    detail = _latest(conn, archive)["detail"]
    assert f"“{names[now[3]]}” from 4 to 1 (drag and drop)" in detail and names[now[0]] not in detail


def test_copy_to_keeper_asks_before_overwriting_and_the_log_can_undo_it(client, conn, analysed):
    batch, archive, ids = analysed
    key = _key(ids, *GROUP)
    client.post(f"/items/{ids['small.jpg']}/metadata", data={"title": "Motor race, 1955"})
    client.post(f"/items/{ids['master.png']}/metadata", data={"title": "Race"})
    copy = {"field": "title", "source": ids["small.jpg"], "target": ids["master.png"]}
    asked = client.post(f"/batches/{batch}/similarity/group/{key}/copy", data=copy).data.decode()
    assert "already “Race”" in asked and "Replace it" in asked and "Add after it" in asked and "Cancel" in asked
    assert _title(conn, ids["master.png"]) == "Race"  # nothing changed yet
    client.post(f"/batches/{batch}/similarity/group/{key}/copy", data={**copy, "mode": "append"})
    assert _title(conn, ids["master.png"]) == "Race; Motor race, 1955"
    entry = _latest(conn, archive)
    assert "copied title “Motor race, 1955” from “small.jpg” to “master.png”, after “Race”" == entry["detail"]

    client.post(f"/archives/{archive}/audit/{entry['id']}/undo")
    assert _title(conn, ids["master.png"]) == "Race"
    assert _latest(conn, archive)["action"] == "undo"
    again = client.post(f"/archives/{archive}/audit/{entry['id']}/undo", follow_redirects=True).data.decode()
    assert "cannot be undone" in again and _title(conn, ids["master.png"]) == "Race"
    client.post(f"/batches/{batch}/similarity/group/{key}/copy", data={**copy, "mode": "replace"})
    assert _title(conn, ids["master.png"]) == "Motor race, 1955"
    assert _latest(conn, archive)["detail"].endswith(", replacing “Race”")


def _title(conn, item_id):
    return conn.execute("SELECT title FROM items WHERE id = ?", (item_id,)).fetchone()[0]


def test_a_delete_is_undone_from_the_log_by_restoring_from_the_trash(client, conn, analysed):
    batch, archive, ids = analysed
    key = _key(ids, *GROUP)
    client.post(f"/batches/{batch}/similarity/group/{key}/delete", data={"item": [ids["small.jpg"]]})
    entry = _latest(conn, archive)
    assert entry["action"] == "trash"
    page = client.get(f"/archives/{archive}/audit").data.decode()
    assert f'/audit/{entry["id"]}/undo' in page and "[" not in page.split("<tbody>")[1].split("</tbody>")[0]
    client.post(f"/archives/{archive}/audit/{entry['id']}/undo")
    assert ids["small.jpg"] in queries.item_ids_in_order(conn, batch)
    assert [e["action"] for e in qr.audit_entries(conn, archive)[:2]] == ["undo", "restore"]


def test_only_owners_undo_and_undoing_not_duplicates_names_the_files(client, conn, world, analysed):
    batch, archive, ids = analysed
    key = _key(ids, *GROUP)
    client.post(f"/batches/{batch}/similarity/group/{key}/dismiss")
    row = conn.execute("SELECT sha_a, sha_b FROM dismissals LIMIT 1").fetchone()
    client.post(f"/batches/{batch}/similarity/dismissals/undo", data={"sha_a": row["sha_a"], "sha_b": row["sha_b"]})
    detail = _latest(conn, archive)["detail"]
    assert detail.startswith("undid “not duplicates” for “") and row["sha_a"][:10] not in detail
    client.post(f"/batches/{batch}/similarity/group/{key}/delete", data={"item": [ids["small.jpg"]]})
    entry = _latest(conn, archive)
    archivist, _own = world.user("helper@x.org")
    queries.add_member(conn, archive, archivist, "archivist")
    world.login("helper@x.org")
    assert client.post(f"/archives/{archive}/audit/{entry['id']}/undo").status_code == 403


def test_every_kind_of_entry_reads_with_names_on_the_audit_page(client, conn, analysed):
    batch, archive, ids = analysed
    key = _key(ids, *GROUP)
    order = queries.item_ids_in_order(conn, batch)
    client.post(f"/batches/{batch}/items/{order[1]}/move", data={"direction": "later", "order_version": 0})
    client.post(f"/batches/{batch}/similarity/group/{key}/place-together")
    client.post(f"/batches/{batch}/similarity/group/{key}/dismiss")
    row = conn.execute("SELECT sha_a, sha_b FROM dismissals LIMIT 1").fetchone()
    client.post(f"/batches/{batch}/similarity/dismissals/undo", data={"sha_a": row["sha_a"], "sha_b": row["sha_b"]})
    client.post(f"/items/{ids['small.jpg']}/metadata", data={"title": "Motor race"})
    client.post(f"/batches/{batch}/similarity/group/{key}/copy",
                data={"field": "title", "source": ids["small.jpg"], "target": ids["master.png"]})
    client.post(f"/archives/{archive}/audit/{_latest(conn, archive)['id']}/undo")
    client.post(f"/batches/{batch}/similarity/group/{key}/delete", data={"item": [ids["blurred.jpg"]]})
    client.post(f"/items/{ids['coffee.png']}/delete")
    trashed = conn.execute("SELECT id FROM trash ORDER BY id").fetchall()
    client.post(f"/archives/{archive}/trash/restore", data={"entry": trashed[0]["id"]})
    client.post(f"/archives/{archive}/trash/purge", data={"entry": trashed[1]["id"]})
    client.post(f"/batches/{batch}/delete")
    kinds = [e["action"] for e in qr.audit_entries(conn, archive)]
    assert {"edit metadata", "reorder", "place together", "not duplicates", "undo not duplicates", "copy metadata",
            "undo", "trash", "restore", "purge"} <= set(kinds), kinds
    page = client.get(f"/archives/{archive}/audit").data.decode()
    rows = re.findall(r"<tr id=.*?</tr>", page.split("<tbody>")[1], re.S)
    assert len(rows) == len(kinds)
    for row in rows:
        what = re.search(r'data-label="What">(.*?)</td>', row, re.S).group(1)
        assert "“" in what, what  # every entry names what it touched
        assert not re.search(r"\b[0-9a-f]{10,}\b|\bitem \d+\b|\[\d", what), what  # not hashes or ids


def test_an_edit_by_hand_logs_the_values_it_replaced_and_undoes_them(client, conn, analysed):
    _batch, archive, ids = analysed
    item = ids["master.png"]
    client.post(f"/items/{item}/metadata", data={"title": "Race", "creator": "A. Photographer"})
    client.post(f"/items/{item}/metadata", data={"title": "Motor race, 1955", "creator": "A. Photographer"})
    entry = _latest(conn, archive)
    assert entry["action"] == "edit metadata"
    assert entry["detail"] == "edited “master.png”: title “Race” → “Motor race, 1955”"
    count = len(qr.audit_entries(conn, archive))
    client.post(f"/items/{item}/metadata", data={"title": "Motor race, 1955"})  # nothing changed: nothing logged
    assert len(qr.audit_entries(conn, archive)) == count
    client.post(f"/archives/{archive}/audit/{entry['id']}/undo")
    assert _title(conn, item) == "Race" and "title of “master.png” as before" in _latest(conn, archive)["detail"]


def test_a_reorder_and_a_place_together_are_undone_from_the_log(client, conn, analysed):
    batch, archive, ids = analysed
    original = queries.item_ids_in_order(conn, batch)
    client.post(f"/batches/{batch}/items/{original[0]}/move", data={f"position-{original[0]}": "4", "order_version": 0})
    moved = _latest(conn, archive)
    assert queries.item_ids_in_order(conn, batch) != original
    client.post(f"/archives/{archive}/audit/{moved['id']}/undo")
    assert queries.item_ids_in_order(conn, batch) == original
    assert "back at its earlier position" in _latest(conn, archive)["detail"]

    client.post(f"/batches/{batch}/similarity/group/{_key(ids, *GROUP)}/place-together")
    placed = _latest(conn, archive)
    assert placed["action"] == "place together" and queries.item_ids_in_order(conn, batch) != original
    page = client.get(f"/archives/{archive}/audit").data.decode()
    assert f'/audit/{placed["id"]}/undo' in page
    client.post(f"/archives/{archive}/audit/{placed['id']}/undo")
    assert queries.item_ids_in_order(conn, batch) == original


def test_not_duplicates_is_undone_from_the_log(client, conn, analysed):
    batch, archive, ids = analysed
    key = _key(ids, *GROUP)
    client.post(f"/batches/{batch}/similarity/group/{key}/dismiss")
    assert key not in client.get(f"/batches/{batch}/similarity/groups").data.decode()
    entry = _latest(conn, archive)
    client.post(f"/archives/{archive}/audit/{entry['id']}/undo")
    assert conn.execute("SELECT count(*) FROM dismissals").fetchone()[0] == 0
    assert key in client.get(f"/batches/{batch}/similarity/groups").data.decode()
    assert "count as possible duplicates again" in _latest(conn, archive)["detail"]
