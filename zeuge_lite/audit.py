"""Undoing a logged change from the audit log: a copied metadata value, an edit by hand, a reorder, "not
duplicates", a move to the trash. No Flask here."""
import json

from zeuge_lite import catalogue, queries
from zeuge_lite import queries_review as qr
from zeuge_lite import queries_trash as qt
from zeuge_lite import trash
from zeuge_lite.db import transaction


class CannotUndo(Exception):
    """The entry has nothing to undo, was undone already, or what it changed is gone."""


def undoable(entry):
    """Whether an audit entry can still be undone."""
    return bool(entry["undo"]) and entry["undone_at"] is None


def undo(conn, archive_id, entry_id, user_id):
    """Undo one entry's change, log the undo and mark the entry, all in one transaction; return what was done."""
    with transaction(conn):
        entry = qr.audit_entry(conn, archive_id, entry_id)
        if entry is None or not undoable(entry):
            raise CannotUndo("This entry cannot be undone (nothing to undo, or undone already).")
        done = _UNDO[json.loads(entry["undo"])["kind"]](conn, archive_id, json.loads(entry["undo"]), user_id)
        qr.mark_undone(conn, entry_id)
        qr.log_action(conn, archive_id, entry["batch_id"], user_id, "undo", f"undid “{entry['detail']}”: {done}",
                      json.loads(entry["items"]))
    return done


def _undo_field(conn, archive_id, change, _user_id):
    item = queries.item_in_archive(conn, archive_id, change["item"])
    if item is None:
        raise CannotUndo("The item this value was copied to is no longer in the archive.")
    queries.update_item_fields(conn, item["id"], {change["field"]: change["value"]})
    return f"{change['field']} of “{item['filename']}” is “{change['value']}” again"


def _undo_fields(conn, archive_id, change, _user_id):
    item = queries.item_in_archive(conn, archive_id, change["item"])
    if item is None:
        raise CannotUndo("The item these values were edited on is no longer in the archive.")
    queries.update_item_fields(conn, item["id"], change["values"])
    return f"{', '.join(change['values'])} of “{item['filename']}” as before".replace("_", " ")


def _undo_order(conn, archive_id, change, _user_id):
    if not queries.batch_in_archive(conn, archive_id, change["batch"]):
        raise CannotUndo("That batch is no longer in the archive.")
    back = catalogue.restore_positions(conn, change["batch"], change["positions"])
    if not back:
        raise CannotUndo("Those items are no longer in the batch.")
    names = queries.filenames(conn, back[:3])
    listed = ", ".join(f"“{names[i]}”" for i in back[:3]) + (f" and {len(back) - 3} more" if len(back) > 3 else "")
    return f"{listed} back at {'its' if len(back) == 1 else 'their'} earlier position{'' if len(back) == 1 else 's'}"


def _undo_dismissal(conn, archive_id, change, _user_id):
    for sha_a, sha_b in change["pairs"]:
        qr.undo_dismissal(conn, archive_id, sha_a, sha_b)
    return "they count as possible duplicates again"


def _undo_trash(conn, archive_id, change, user_id):
    waiting = qt.entries_by_ids(conn, archive_id, change["trash"])
    if not waiting:
        raise CannotUndo("Those items are no longer in the trash (restored or deleted permanently).")
    trash.restore_within(conn, archive_id, [e["id"] for e in waiting], user_id)
    return f"restored {len(waiting)} item{'' if len(waiting) == 1 else 's'} from the trash"


_UNDO = {"field": _undo_field, "fields": _undo_fields, "order": _undo_order, "dismissal": _undo_dismissal,
         "restore": _undo_trash}
