"""The one way items leave a batch: to the archive's trash (restorable for TRASH_DAYS) or, with TRASH_DAYS = 0,
permanently; restore and purge. Every change writes its audit entry in the same transaction. No Flask here."""
import json
from dataclasses import dataclass

from zeuge_lite import queries
from zeuge_lite import queries_review as qr
from zeuge_lite import queries_similarity as qs
from zeuge_lite import queries_trash as qt
from zeuge_lite.db import transaction
from zeuge_lite.similarity.grouping import CANDIDATE_COSINE_FLOOR


@dataclass(frozen=True)
class Removal:
    """What a removal did, for the message the archivist reads."""
    count: int
    days: int  # 0: deleted permanently

    def message(self, names):
        """"… moved to the trash, restorable for 30 days" or "… deleted permanently"."""
        what = f"“{names[0]}”" if len(names) == 1 else f"{len(names)} items"
        if self.days:
            return f"{what} moved to the trash, restorable for {self.days} days."
        return f"{what} deleted permanently, with metadata and responses."


def remove_items(conn, storage, archive_id, items, user_id, days, context="", group_key=None):
    """Move items (rows of `items`, any batches of one archive) to the trash for `days` days, or delete them
    permanently when days is 0; log it in the same transaction; remove files no one uses after the commit."""
    items = list(items)
    with transaction(conn):
        orphans = _remove(conn, archive_id, items, user_id, days, context, group_key)
    _remove_files(storage, orphans)
    return Removal(len(items), days)


def remove_groups(conn, storage, archive_id, groups, user_id, days, context=""):
    """remove_items for several groups ([(items, group key)]) in one transaction, one audit entry each."""
    orphans = set()
    with transaction(conn):
        for items, key in groups:
            orphans |= _remove(conn, archive_id, list(items), user_id, days, context, key)
    _remove_files(storage, orphans)
    return sum(len(items) for items, _key in groups)


def remove_batch(conn, storage, batch, user_id, days):
    """Delete a batch; its items go to the trash as remove_items does (a restore makes the batch again under
    its name: its id may be given to a new batch)."""
    items = queries.items_of_batch(conn, batch["id"])
    with transaction(conn):
        orphans = _remove(conn, batch["archive_id"], items, user_id, days, f" with their batch “{batch['name']}”")
        qt.forget_batch(conn, batch["id"])
        queries.delete_batch(conn, batch["id"])
    _remove_files(storage, orphans)
    return Removal(len(items), days)


def _remove(conn, archive_id, items, user_id, days, context, group_key=None):
    """The work of a removal inside the caller's transaction; returns the files to remove after the commit."""
    gone = {i["id"] for i in items}
    neighbours = [(item, model) for item, model in qs.scores_pointing_at(conn, gone) if item not in gone]
    for batch_id, in_batch in _by_batch(items).items():
        positions = {row["id"]: row["position_number"]
                     for row in queries.items_by_ids(conn, batch_id, [i["id"] for i in in_batch])}
        batch = qt.batch_in_archive(conn, archive_id, batch_id)
        entries = []
        for item in in_batch:
            if days:
                entries.append(qt.put(conn, archive_id, batch["name"], positions[item["id"]],
                                      qt.item_row(conn, item["id"]), _related_rows(conn, item["id"]), user_id, days))
            queries.delete_item(conn, item["id"])
        queries.close_gaps(conn, batch_id)  # positions stay 1..n: an item's position is its place
        verb = f"moved {len(in_batch)} items to the trash" if days else f"deleted {len(in_batch)} items permanently"
        qr.log_action(conn, archive_id, batch_id, user_id, "trash" if days else "delete",
                      f"{verb}{context}: {', '.join(_label(i) for i in in_batch)}", [i["id"] for i in in_batch],
                      group_key, {"kind": "restore", "trash": entries} if entries else None)
    for item_id, model in neighbours:  # uniqueness follows at once, without a new run
        qs.rescore_from_pairs(conn, model, item_id, CANDIDATE_COSINE_FLOOR)
    orphans = _orphans(conn, items) if not days else set()
    for sha256, _ext in orphans:
        queries.delete_file_row(conn, sha256)
    return orphans


def _related_rows(conn, item_id):
    """What a restore needs besides the item's row: responses, its compared pairs and scores."""
    return {"responses": qt.rows_of(conn, "responses", item_id), "pairs": qt.rows_of(conn, "pairs", item_id),
            "scores": qt.rows_of(conn, "item_scores", item_id)}


def _by_batch(items):
    batches = {}
    for item in items:
        batches.setdefault(item["batch_id"], []).append(item)
    return batches


def _label(row):
    """How the audit log names an item: its file name, and its title when it has one."""
    title = row["title"] if "title" in row.keys() else ""
    return f"“{row['filename']}”" + (f" ({title})" if title else "")


def _entry_label(entry):
    return _label(json.loads(entry["item"]))


def _orphans(conn, rows):
    """(sha256, ext) of the rows' contents that no item and no trash entry uses any more."""
    return {(r["sha256"], r["ext"]) for r in rows if not queries.file_in_use(conn, r["sha256"])}


def _remove_files(storage, orphans):
    for sha256, ext in orphans:  # after the commit: a failed transaction must not lose files
        storage.remove(sha256, ext)


def restore(conn, archive_id, trash_ids, user_id):
    """Put trash entries back where they were (their batch, position, metadata, responses, and their pairs with
    items still there, so groups and uniqueness come back at once; a deleted batch is made again under its
    name); log it. Returns the restored item ids."""
    with transaction(conn):
        return restore_within(conn, archive_id, trash_ids, user_id)


def restore_within(conn, archive_id, trash_ids, user_id):
    """restore() inside the caller's transaction (an undo from the audit log logs its own entry with it)."""
    restored = []
    columns = {table: qt.table_columns(conn, table) for table in qt.RESTORABLE}
    for entry in qt.entries_by_ids(conn, archive_id, trash_ids):
        item_id, batch = _put_back(conn, archive_id, entry, columns)
        qt.remove(conn, entry["id"])
        qr.log_action(conn, archive_id, batch["id"], user_id, "restore",
                      f"restored {_entry_label(entry)} from the trash to “{batch['name']}”, "
                      f"position {entry['position']}", [item_id])
        restored.append(item_id)
    return restored


def _put_back(conn, archive_id, entry, columns):
    """Insert one entry's item and related rows again; return (item id, batch row)."""
    batch_id = qt.current_batch_id(conn, entry["id"])  # an earlier entry may have made its batch again
    batch = qt.batch_in_archive(conn, archive_id, batch_id) if batch_id else None
    if batch is None:
        batch = qt.batch_in_archive(conn, archive_id, queries.create_batch(conn, archive_id, entry["batch_name"]))
        if entry["deleted_batch"] is not None:
            qt.adopt(conn, archive_id, entry["deleted_batch"], batch["id"])
    old_id, item = entry["item_id"], dict(json.loads(entry["item"]), batch_id=batch["id"], position=0)
    if not qt.id_is_free(conn, old_id):
        item.pop("id")
    item_id = qt.insert_row(conn, "items", item, columns["items"])  # set_order below gives its place
    for response in json.loads(entry["responses"]):
        qt.insert_row(conn, "responses", {k: v for k, v in response.items() if k != "id"} | {"item_id": item_id},
                      columns["responses"])
    _put_back_comparisons(conn, entry, old_id, item_id, batch["id"], columns)
    order = queries.item_ids_in_order(conn, batch["id"])
    order.remove(item_id)
    order.insert(max(0, min(entry["position"] - 1, len(order))), item_id)
    queries.set_order(conn, batch["id"], order)
    return item_id, batch


def _put_back_comparisons(conn, entry, old_id, item_id, batch_id, columns):
    """The entry's pairs with items still in its batch, its scores, and its neighbours' nearest where it is
    closer; a pair whose other item left too comes back with that item."""
    scores_back = False
    for pair in json.loads(entry["pairs"]):
        other = pair["b_item"] if pair["a_item"] == old_id else pair["a_item"]
        if pair["batch_id"] != (entry["batch_id"] or entry["deleted_batch"]) or not qt.in_batch(conn, other, batch_id):
            continue
        a, b = sorted((item_id, other))
        qt.insert_row(conn, "pairs", dict(pair, a_item=a, b_item=b, batch_id=batch_id), columns["pairs"])
        strength = 1.0 if pair["same_file"] else pair["cosine"]
        qs.raise_nearest(conn, pair["model"], other, strength, item_id, 1.0 - strength)
        scores_back = True
    for score in json.loads(entry["scores"]):
        if scores_back and (score["nearest_item"] is None or qt.in_batch(conn, score["nearest_item"], batch_id)):
            qt.insert_row(conn, "item_scores", dict(score, item_id=item_id), columns["item_scores"])


def purge(conn, storage, archive_id, entries, user_id, why):
    """Delete trash entries for good (their files too, where nothing else uses them); log it."""
    entries = list(entries)
    if not entries:
        return 0
    with transaction(conn):
        for entry in entries:
            qt.remove(conn, entry["id"])
        orphans = _orphans(conn, entries)
        for sha256, _ext in orphans:
            queries.delete_file_row(conn, sha256)
        qr.log_action(conn, archive_id, None, user_id, "purge",
                      f"deleted {len(entries)} items from the trash permanently ({why}): "
                      + ", ".join(_entry_label(e) for e in entries), [e["item_id"] for e in entries])
    _remove_files(storage, orphans)
    return len(entries)


def purge_expired(conn, storage):
    """Purge every archive's entries whose time in the trash is over (the worker's periodic task)."""
    by_archive = {}
    for entry in qt.expired_entries(conn):
        by_archive.setdefault(entry["archive_id"], []).append(entry)
    return sum(purge(conn, storage, archive_id, entries, None, "their time in the trash was over")
               for archive_id, entries in by_archive.items())
