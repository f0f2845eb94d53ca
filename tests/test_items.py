"""Items: order (drag, keyboard, stale pages), metadata, responses, permanent delete, batches."""
import pytest

from tests.conftest import image_bytes
from zeuge_lite import queries
from zeuge_lite.storage import Storage


@pytest.fixture
def batch_with_items(world):
    _user, archive = world.user("it@x.org")
    world.login("it@x.org")
    batch = world.batch(archive)
    colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (250, 250, 0)]
    results = world.upload(batch, *[(f"p{i}.png", image_bytes("PNG", color=c)) for i, c in enumerate(colors)])
    return batch, [r["item_id"] for r in results]


def _order(conn, batch):
    return queries.item_ids_in_order(conn, batch)


def test_full_order_is_saved_and_version_guards_a_stale_page(client, conn, batch_with_items):
    batch, ids = batch_with_items
    new = [ids[2], ids[0], ids[3], ids[1]]
    response = client.post(f"/batches/{batch}/order", data={"item": new, "order_version": 0})
    assert response.status_code == 200 and _order(conn, batch) == new
    stale = client.post(f"/batches/{batch}/order", data={"item": ids, "order_version": 0})
    assert stale.status_code == 409 and b"changed in another window" in stale.data
    assert _order(conn, batch) == new


def test_an_order_must_name_exactly_the_items_at_the_positions_it_covers(client, conn, batch_with_items):
    batch, ids = batch_with_items
    for wrong in ({"item": [ids[0], ids[1], ids[3]]}, {"item": ids[1:], "offset": 0},
                  {"item": [ids[1], ids[0]], "offset": 3}, {"item": ids, "offset": -1}):
        response = client.post(f"/batches/{batch}/order", data={"order_version": 0, **wrong})
        assert response.status_code == 409 and _order(conn, batch) == ids


def test_a_page_of_the_grid_reorders_only_its_own_positions(client, conn, batch_with_items):
    batch, ids = batch_with_items
    response = client.post(f"/batches/{batch}/order", data={"item": [ids[2], ids[1]], "offset": 1,
                                                            "order_version": 0})
    assert response.status_code == 200 and _order(conn, batch) == [ids[0], ids[2], ids[1], ids[3]]


def test_move_to_a_typed_position_clamped_to_the_batch(client, conn, batch_with_items):
    batch, ids = batch_with_items
    client.post(f"/batches/{batch}/items/{ids[3]}/move", data={f"position-{ids[3]}": "1", "order_version": 0})
    assert _order(conn, batch) == [ids[3], ids[0], ids[1], ids[2]]
    client.post(f"/batches/{batch}/items/{ids[3]}/move", data={f"position-{ids[3]}": "99", "order_version": 1})
    assert _order(conn, batch) == ids
    for bad in ("two", "-3", "1e3"):
        refused = client.post(f"/batches/{batch}/items/{ids[0]}/move",
                              data={f"position-{ids[0]}": bad, "order_version": 2})
        assert refused.status_code == 422 and b"whole number" in refused.data and _order(conn, batch) == ids
    client.post(f"/batches/{batch}/items/{ids[0]}/move", data={f"position-{ids[0]}": "9" * 30, "order_version": 2})
    assert _order(conn, batch) == [ids[1], ids[2], ids[3], ids[0]]  # a huge position is the end
    whole_form = {f"position-{i}": str(n) for n, i in enumerate(_order(conn, batch), start=1)}
    client.post(f"/batches/{batch}/items/{ids[0]}/move", data={**whole_form, "direction": "earlier",
                                                               "order_version": 3})
    assert _order(conn, batch) == [ids[1], ids[2], ids[0], ids[3]]  # an arrow's direction wins over the fields


def test_long_batches_are_paged_and_a_move_shows_the_page_the_item_went_to(app, client, conn, batch_with_items):
    app.config.update(GRID_PAGE_SIZE=2, TABLE_PAGE_SIZE=3)
    batch, ids = batch_with_items
    first, second = (client.get(f"/batches/{batch}/items?page={n}").data.decode() for n in (1, 2))
    assert [f'id="item-{i}"' in first for i in ids] == [True, True, False, False]
    assert [f'id="item-{i}"' in second for i in ids] == [False, False, True, True]
    assert 'value="3"' in second and 'name="offset" value="2"' in second and "3–4 of 4" in second
    assert 'data-position="2"' in second and "to the end of page 1" in second  # the drop zone's target
    assert f'id="item-{ids[3]}"' in client.get(f"/batches/{batch}/items?page=99").data.decode()  # the last
    moved = client.post(f"/batches/{batch}/items/{ids[0]}/move", data={f"position-{ids[0]}": "4", "order_version": 0,
                                                                      "page": "1"}).data.decode()
    assert f'id="item-{ids[0]}"' in moved and f'id="item-{ids[3]}"' in moved and "3–4 of 4" in moved
    table = client.get(f"/batches/{batch}/metadata?page=2").data.decode()
    assert f'id="meta-{ids[0]}"' in table and f'id="meta-{ids[1]}"' not in table and "4–4 of 4" in table


def test_move_earlier_and_later(client, conn, batch_with_items):
    batch, ids = batch_with_items
    client.post(f"/batches/{batch}/items/{ids[2]}/move", data={"direction": "earlier", "order_version": 0})
    assert _order(conn, batch) == [ids[0], ids[2], ids[1], ids[3]]
    client.post(f"/batches/{batch}/items/{ids[0]}/move", data={"direction": "later", "order_version": 1})
    assert _order(conn, batch) == [ids[2], ids[0], ids[1], ids[3]]
    stale = client.post(f"/batches/{batch}/items/{ids[0]}/move", data={"direction": "later", "order_version": 1})
    assert stale.status_code == 409


def test_items_grid_shows_items_in_order(client, conn, batch_with_items):
    batch, ids = batch_with_items
    client.post(f"/batches/{batch}/order", data={"item": ids[::-1], "order_version": 0})
    page = client.get(f"/batches/{batch}/items").data.decode()
    positions = [page.index(f'id="item-{i}"') for i in ids[::-1]]
    assert positions == sorted(positions)


def test_metadata_form_and_inline_edit(client, conn, batch_with_items):
    _batch, ids = batch_with_items
    client.post(f"/items/{ids[0]}/metadata", data={"title": "Harvest, 1931", "accession_number": "A-17",
                                                   "id": "999"})
    inline = client.post(f"/items/{ids[0]}/metadata", data={"rights": "CC BY 4.0"}, headers={"HX-Request": "true"})
    assert b"Saved rights" in inline.data
    row = conn.execute("SELECT * FROM items WHERE id = ?", (ids[0],)).fetchone()
    assert (row["title"], row["accession_number"], row["rights"]) == ("Harvest, 1931", "A-17", "CC BY 4.0")
    assert b"Harvest, 1931" in client.get(f"/items/{ids[0]}").data
    assert b"A-17" in client.get(f"/batches/{_batch}/metadata").data


def test_responses_are_listed_on_the_item_page(client, batch_with_items):
    _batch, ids = batch_with_items
    client.post(f"/items/{ids[1]}/responses", data={"body": "My grandmother is second from left."})
    assert b"second from left" in client.get(f"/items/{ids[1]}").data


def test_without_a_trash_delete_confirms_then_removes_item_metadata_responses_and_unused_file(
        client, conn, app, batch_with_items):
    app.config["TRASH_DAYS"] = 0  # this server keeps no trash: the old, permanent delete
    batch, ids = batch_with_items
    client.post(f"/items/{ids[0]}/responses", data={"body": "a note"})
    confirm = client.get(f"/items/{ids[0]}/delete")
    assert b"cannot be undone" in confirm.data and b"1 response" in confirm.data
    sha = conn.execute("SELECT sha256 FROM items WHERE id = ?", (ids[0],)).fetchone()[0]
    path = Storage(app.config["STORAGE_DIR"]).original_path(sha, "png")
    assert path.exists()
    client.post(f"/items/{ids[0]}/delete")
    assert conn.execute("SELECT count(*) FROM items WHERE id = ?", (ids[0],)).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM responses").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM files WHERE sha256 = ?", (sha,)).fetchone()[0] == 0
    assert not path.exists()
    assert _order(conn, batch) == ids[1:]


def test_a_file_used_by_another_item_stays(client, conn, app, world, batch_with_items):
    batch, ids = batch_with_items
    archive = conn.execute("SELECT archive_id FROM batches WHERE id = ?", (batch,)).fetchone()[0]
    other_batch = world.batch(archive, "Box 2")
    shared = image_bytes("PNG", color=(255, 0, 0))  # same bytes as p0.png
    other_id = world.upload(other_batch, ("again.png", shared))[0]["item_id"]
    client.post(f"/items/{ids[0]}/delete")
    sha = conn.execute("SELECT sha256 FROM items WHERE id = ?", (other_id,)).fetchone()[0]
    assert Storage(app.config["STORAGE_DIR"]).original_path(sha, "png").exists()
    assert client.get(f"/items/{other_id}/thumb.jpg").status_code == 200


def test_batch_rename_and_delete_without_a_trash(app, client, conn, batch_with_items):
    app.config["TRASH_DAYS"] = 0
    batch, _ids = batch_with_items
    client.post(f"/batches/{batch}/rename", data={"name": "Parish box 12"})
    assert b"Parish box 12" in client.get(f"/batches/{batch}/items").data
    assert b"cannot be undone" in client.get(f"/batches/{batch}/delete").data
    client.post(f"/batches/{batch}/delete")
    assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 0
    assert client.get(f"/batches/{batch}/items").status_code == 404


def test_create_batch_needs_a_name(client, world, conn):
    _user, archive = world.user("b@x.org")
    world.login("b@x.org")
    client.post(f"/archives/{archive}/batches", data={"name": "  "})
    assert queries.batches_of_archive(conn, archive) == []
    response = client.post(f"/archives/{archive}/batches", data={"name": "Box 7"})
    assert response.status_code == 302 and len(queries.batches_of_archive(conn, archive)) == 1


# --- reorders of a long batch write only what moves; positions are places (issue 10) ----------------------


@pytest.fixture
def long_batch(conn, world):
    """A batch of 60 items (no files on disk: the order is what is tested) and its owner's batch row."""
    from zeuge_lite.db import transaction
    user, archive = world.user("long@x.org")
    world.login("long@x.org")
    batch = world.batch(archive)
    with transaction(conn):
        for n in range(60):
            sha = f"{n:064x}"
            queries.upsert_file(conn, {"sha256": sha, "size": 1, "ext": "jpg", "format": "JPEG", "mode": "RGB",
                                       "bit_depth": 8, "width": 4, "height": 3, "dpi": None, "frames": 1,
                                       "taken_at": None, "camera": None, "orientation": None, "sharpness": None})
            queries.add_item(conn, batch, sha, f"n{n:02d}.jpg", user)
    return batch, _order(conn, batch)


def _positions(conn, batch):
    return [row[0] for row in conn.execute("SELECT position FROM items WHERE batch_id = ? ORDER BY position, id",
                                           (batch,))]


def _position_writes(conn, action):
    """How many item rows had their position written (the app has its own connection, so a trigger counts)."""
    conn.execute("CREATE TABLE IF NOT EXISTS position_writes (item_id INTEGER)")
    conn.execute("CREATE TRIGGER IF NOT EXISTS position_written AFTER UPDATE OF position ON items "
                 "BEGIN INSERT INTO position_writes VALUES (NEW.id); END")
    conn.execute("DELETE FROM position_writes")
    action()
    return conn.execute("SELECT count(*) FROM position_writes").fetchone()[0]


def test_a_move_across_pages_writes_only_the_items_between(app, client, conn, long_batch):
    batch, ids = long_batch
    writes = _position_writes(conn, lambda: client.post(f"/batches/{batch}/items/{ids[2]}/move",
                                                        data={f"position-{ids[2]}": "6", "order_version": 0}))
    assert writes == 4 and _order(conn, batch) == ids[:2] + ids[3:6] + [ids[2]] + ids[6:]
    client.post(f"/batches/{batch}/items/{ids[50]}/move", data={f"position-{ids[50]}": "1", "order_version": 1})
    assert _order(conn, batch) == [ids[50]] + ids[:2] + ids[3:6] + [ids[2]] + ids[6:50] + ids[51:]
    assert _positions(conn, batch) == list(range(1, 61))


def test_a_drag_on_a_later_page_writes_only_that_page(app, client, conn, long_batch):
    batch, ids = long_batch
    page = ids[40:44]
    writes = _position_writes(conn, lambda: client.post(f"/batches/{batch}/order", data={
        "item": [page[1], page[0], page[2], page[3]], "offset": 40, "order_version": 0}))
    assert writes == 2 and _order(conn, batch) == ids[:40] + [page[1], page[0]] + ids[42:]
    assert _positions(conn, batch) == list(range(1, 61))


def test_position_numbers_are_places_after_a_delete_and_a_reorder_closes_older_gaps(app, client, conn, long_batch):
    batch, ids = long_batch
    client.post(f"/items/{ids[10]}/delete", data={})
    assert _positions(conn, batch) == list(range(1, 60))  # the delete closed its gap
    numbered = {row["id"]: row["position_number"] for row in queries.items_by_ids(conn, batch, [ids[11], ids[59]])}
    assert numbered == {ids[11]: 11, ids[59]: 59}
    conn.execute("UPDATE items SET position = position * 3 WHERE batch_id = ?", (batch,))  # gaps, as before
    assert not queries.positions_are_dense(conn, batch)
    numbered = {row["id"]: row["position_number"] for row in queries.items_by_ids(conn, batch, [ids[11], ids[59]])}
    assert numbered == {ids[11]: 11, ids[59]: 59}  # numbered by their place, not their stored position
    client.post(f"/batches/{batch}/items/{ids[0]}/move", data={f"position-{ids[0]}": "3", "order_version": 0})
    assert _positions(conn, batch) == list(range(1, 60))
    assert _order(conn, batch) == [ids[1], ids[2], ids[0]] + ids[3:10] + ids[11:]


def test_metadata_rows_post_each_field_to_their_item_and_answer_in_the_row(client, conn, batch_with_items):
    batch, ids = batch_with_items
    table = client.get(f"/batches/{batch}/metadata").data.decode()
    row = table[table.index(f'<tr id="meta-{ids[1]}"'):]
    row = row[:row.index("</tr>")]
    assert f'hx-target="#saved-{ids[1]}"' in row and f'id="saved-{ids[1]}"' in row
    assert row.count(f'hx-post="/items/{ids[1]}/metadata"') == len(queries.ITEM_FIELDS)
