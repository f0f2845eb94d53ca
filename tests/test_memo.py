"""The in-process cache of groups: one computation per key, bounded, and invalidated by every change groups
depend on (new pairs, deleted items, "not duplicates" decisions and their undo), whichever path makes it."""
import threading

import pytest

from tests import test_review
from tests.test_review import GROUP, _key
from zeuge_lite import catalogue, queries
from zeuge_lite import queries_similarity as qs
from zeuge_lite.memo import Memo
from zeuge_lite.storage import Storage

analysed = test_review.analysed  # the review tests' analysed batch, as a fixture here too


def test_many_threads_asking_for_one_key_compute_it_once():
    memo, calls, release = Memo(), [], threading.Event()

    def compute():
        calls.append(1)
        release.wait(5)
        return "groups"

    results = []
    threads = [threading.Thread(target=lambda: results.append(memo.get("k", compute))) for _ in range(8)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(5)
    assert results == ["groups"] * 8 and len(calls) == 1


def test_a_failed_computation_is_not_remembered_and_the_oldest_entries_go_first():
    memo = Memo(size=2)
    with pytest.raises(ZeroDivisionError):
        memo.get("bad", lambda: 1 / 0)
    assert memo.get("bad", lambda: "second try") == "second try"
    memo.get("a", lambda: 1)
    memo.get("bad", lambda: "not recomputed")  # touched: now newer than "a"
    memo.get("b", lambda: 2)
    assert len(memo) == 2
    assert memo.get("bad", lambda: "gone?") == "second try" and memo.get("b", lambda: "gone?") == 2
    assert memo.get("a", lambda: "recomputed") == "recomputed"  # "a" was the least recently used


def _groups_html(client, batch):
    return client.get(f"/batches/{batch}/similarity/groups").data.decode()


def test_groups_are_computed_once_until_something_they_depend_on_changes(app, client, conn, analysed):
    batch, archive, ids = analysed
    key = _key(ids, *GROUP)
    before = qs.groups_generation(conn, batch)
    assert key in _groups_html(client, batch)
    memo = app.extensions["memo"]
    cached = len(memo)
    assert key in _groups_html(client, batch) and len(memo) == cached  # the second page view reuses it

    client.post(f"/batches/{batch}/similarity/group/{key}/dismiss", data={"member": ids["blurred.jpg"]})
    assert qs.groups_generation(conn, batch) != before
    listing = _groups_html(client, batch)
    assert key not in listing and _key(ids, "small.jpg", "master.png") in listing

    for dismissal in _dismissals(conn, archive):  # one member against the rest: one decision per pair
        client.post(f"/batches/{batch}/similarity/dismissals/undo", data=dismissal)
    assert key in _groups_html(client, batch)

    # A delete through the catalogue (not the review screen) removes the item's pairs: the groups follow.
    catalogue.delete_items(conn, Storage(app.config["STORAGE_DIR"]),
                           [i for i in queries.items_of_batch(conn, batch) if i["filename"] == "blurred.jpg"])
    listing = _groups_html(client, batch)
    assert key not in listing and _key(ids, "small.jpg", "master.png") in listing


def _dismissals(conn, archive):
    rows = conn.execute("SELECT sha_a, sha_b FROM dismissals WHERE archive_id = ?", (archive,)).fetchall()
    assert len(rows) == 2
    return [{"sha_a": row["sha_a"], "sha_b": row["sha_b"]} for row in rows]


def test_new_pairs_bump_the_generation(conn, analysed):
    batch, _archive, ids = analysed
    before = qs.groups_generation(conn, batch)
    conn.execute("UPDATE pairs SET cosine = cosine WHERE batch_id = ?", (batch,))
    assert qs.groups_generation(conn, batch)[0] > before[0]
