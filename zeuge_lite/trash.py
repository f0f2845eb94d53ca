"""The one way items leave a batch: to the archive's trash (restorable for TRASH_DAYS) or, with TRASH_DAYS = 0,
permanently; restore and purge. Every change writes its audit entry in the same transaction. No Flask here."""
import json
from dataclasses import dataclass

from zeuge_lite import queries
from zeuge_lite import queries_review as qr
from zeuge_lite import queries_trash as qt
from zeuge_lite.db import transaction


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
    for batch_id, in_batch in _by_batch(items).items():
        positions = {row["id"]: row["position_number"]
                     for row in queries.items_by_ids(conn, batch_id, [i["id"] for i in in_batch])}
        batch = qt.batch_in_archive(conn, archive_id, batch_id)
        for item in in_batch:
            if days:
                qt.put(conn, archive_id, batch["name"], positions[item["id"]], qt.item_row(conn, item["id"]),
                       qt.responses_of(conn, item["id"]), user_id, days)
            queries.delete_item(conn, item["id"])
        verb = f"moved {len(in_batch)} items to the trash" if days else f"deleted {len(in_batch)} items permanently"
        qr.log_action(conn, archive_id, batch_id, user_id, "trash" if days else "delete",
                      f"{verb}{context}: {', '.join(_label(i) for i in in_batch)}", [i["id"] for i in in_batch],
                      group_key)
    orphans = _orphans(conn, items) if not days else set()
    for sha256, _ext in orphans:
        queries.delete_file_row(conn, sha256)
    return orphans


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
    """Put trash entries back where they were (their batch, position, metadata and responses; a deleted batch
    is made again under its name); log it. Returns the restored item ids, in batch order of restoring."""
    restored = []
    with transaction(conn):
        columns = {"items": qt.table_columns(conn, "items"), "responses": qt.table_columns(conn, "responses")}
        for entry in qt.entries_by_ids(conn, archive_id, trash_ids):
            restored.append(_put_back(conn, archive_id, entry, columns))
            qt.remove(conn, entry["id"])
            qr.log_action(conn, archive_id, restored[-1][1], user_id, "restore",
                          f"restored {_entry_label(entry)} from the trash to “{restored[-1][2]}”, "
                          f"position {entry['position']}", [restored[-1][0]])
    return [item_id for item_id, _batch, _name in restored]


def _put_back(conn, archive_id, entry, columns):
    """Insert one entry's item and responses again; return (item id, batch id, batch name)."""
    batch_id = qt.current_batch_id(conn, entry["id"])  # an earlier entry may have made its batch again
    batch = qt.batch_in_archive(conn, archive_id, batch_id) if batch_id else None
    if batch is None:
        batch = qt.batch_in_archive(conn, archive_id, queries.create_batch(conn, archive_id, entry["batch_name"]))
        if entry["deleted_batch"] is not None:
            qt.adopt(conn, archive_id, entry["deleted_batch"], batch["id"])
    item = dict(json.loads(entry["item"]), batch_id=batch["id"], position=0)  # set_order places it below
    if not qt.id_is_free(conn, item["id"]):
        item.pop("id")
    item_id = qt.insert_item(conn, item, columns["items"])
    for response in json.loads(entry["responses"]):
        qt.insert_response(conn, {k: v for k, v in dict(response, item_id=item_id).items() if k != "id"},
                           columns["responses"])
    order = queries.item_ids_in_order(conn, batch["id"])
    order.remove(item_id)
    order.insert(max(0, min(entry["position"] - 1, len(order))), item_id)
    queries.set_order(conn, batch["id"], order)
    return item_id, batch["id"], batch["name"]


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
