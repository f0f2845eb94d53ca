"""The review screen's work on a group: member details, keep-best, place together, not duplicates,
metadata consolidation. Plain functions on a connection; no Flask here."""
import itertools

from PIL import Image

from zeuge_lite import queries, trash
from zeuge_lite import queries_review as qr
from zeuge_lite.db import transaction
from zeuge_lite.similarity.keeper import Candidate, sharpness, suggest_keeper

COMPARE_FIELDS = queries.ITEM_FIELDS + ("taken_at", "camera", "orientation", "width", "height", "format",
                                        "bit_depth", "dpi", "size")


def group_key(item_ids):
    """A stable name for a set of items (sorted ids joined by '-'), used in URLs and the audit log."""
    return "-".join(str(i) for i in sorted(set(item_ids)))


def parse_key(text):
    """Item ids from a group key or a comma list; ValueError for anything else."""
    ids = sorted({int(part) for part in text.replace(",", "-").split("-") if part.strip()})
    if not ids:
        raise ValueError("no items")
    return ids


def group_members(conn, batch_id, item_ids):
    """The batch's items among item_ids, in batch order, each with its 1-based position."""
    return queries.items_by_ids(conn, batch_id, set(item_ids))


def with_sharpness(storage, members):
    """Members with their sharpness: recorded at upload, or measured on the stored preview for older files."""
    for member in members:
        if member.get("sharpness") is not None:
            continue
        try:
            with Image.open(storage.derived_path("preview", member["sha256"])) as preview:
                member["sharpness"] = round(sharpness(preview), 1)
        except OSError:
            member["sharpness"] = None
    return members


def keeper(members):
    """(item id to keep, reasons) for a group's members."""
    return suggest_keeper([Candidate(m["id"], m["width"], m["height"], m["format"], m["bit_depth"],
                                     m.get("sharpness")) for m in members])


def together_order(order, members):
    """The batch order with members moved next to each other after the first of them.

    Members keep their capture-time order when every one has a date taken, else their current order."""
    ids = [m["id"] for m in members]
    if all(m["taken_at"] for m in members):
        ids = [m["id"] for m in sorted(members, key=lambda m: (m["taken_at"], order.index(m["id"])))]
    first = min(order.index(i) for i in ids)
    rest = [i for i in order if i not in set(ids)]
    anchor = len([i for i in order[:first] if i not in set(ids)])
    return rest[:anchor] + ids + rest[anchor:]


def place_together(conn, batch, members, user_id):
    """Move a group's members next to each other in the batch order; log it; return their new positions."""
    with transaction(conn):
        order = queries.item_ids_in_order(conn, batch["id"])
        new_order = together_order(order, members)
        queries.set_order(conn, batch["id"], new_order)
        _log(conn, batch, user_id, "place together", f"placed {len(members)} items next to each other", members)
    positions = [new_order.index(m["id"]) + 1 for m in members]
    return min(positions), max(positions)


def dismiss(conn, batch, members, user_id, member_id=None):
    """Mark a group (or one member against the rest) as not duplicates, by content hash; log it."""
    if member_id is None:
        pairs = itertools.combinations([m["sha256"] for m in members], 2)
        what = f"marked {len(members)} items as not duplicates"
    else:
        one = next(m for m in members if m["id"] == member_id)
        pairs = [(one["sha256"], m["sha256"]) for m in members if m["id"] != member_id]
        what = f"marked “{one['filename']}” as not a duplicate of the rest of its group"
    with transaction(conn):
        qr.dismiss_pairs(conn, batch["archive_id"], list(pairs), user_id)
        _log(conn, batch, user_id, "not duplicates", what, members)


def undo_dismissal(conn, batch, sha_a, sha_b, user_id):
    """Forget one "not duplicates" decision; log it by the files' names."""
    names = [queries.filename_of_content(conn, batch["id"], sha) or "a file no longer in this batch"
             for sha in (sha_a, sha_b)]
    with transaction(conn):
        qr.undo_dismissal(conn, batch["archive_id"], sha_a, sha_b)
        qr.log_action(conn, batch["archive_id"], batch["id"], user_id, "undo not duplicates",
                      f"undid “not duplicates” for “{names[0]}” and “{names[1]}”", [])


def not_a_duplicate_of(conn, batch, new, other, user_id):
    """Pre-accession check: a new item is not a duplicate of one the archive holds (remembered); log it."""
    with transaction(conn):
        qr.dismiss_pairs(conn, batch["archive_id"], [(new["sha256"], other["sha256"])], user_id)
        qr.log_action(conn, batch["archive_id"], batch["id"], user_id, "not duplicates",
                      f"pre-accession: “{new['filename']}” is not a duplicate of “{other['filename']}”",
                      [new["id"], other["id"]])


def delete_members(conn, storage, batch, members, user_id, group_members_all, days):
    """Move some members of a group to the trash (or delete them permanently when days is 0), logged against
    their group."""
    return trash.remove_items(conn, storage, batch["archive_id"], members, user_id, days, " from a group card",
                              group_key(m["id"] for m in group_members_all))


def compare_rows(members):
    """Rows of the metadata compare table: field, values per member, whether they differ."""
    rows = []
    for field in COMPARE_FIELDS:
        values = [m[field] if m[field] not in (None, "") else "" for m in members]
        rows.append({"field": field, "cells": values, "differs": len({str(v) for v in values}) > 1})
    return rows


class NeedsChoice(Exception):
    """The target field already holds a value: replace it, append to it, or cancel."""


def copy_field(conn, batch, members, field, source_id, target_id, user_id, mode=None):
    """Copy one archival field's value from one member to another (consolidation): into an empty field, or
    with mode "replace" or "append" over a value (NeedsChoice without a mode); log it with the value it
    overwrote, so the audit log can undo it."""
    if field not in queries.ITEM_FIELDS:
        raise ValueError(f"{field} cannot be copied")
    source = next(m for m in members if m["id"] == source_id)
    target = next(m for m in members if m["id"] == target_id)
    old, new = target[field] or "", source[field] or ""
    if old and mode not in ("replace", "append"):
        raise NeedsChoice(old)
    value = f"{old}; {new}" if old and mode == "append" else new
    what = f"copied {field} “{new}” from “{source['filename']}” to “{target['filename']}”"
    what += {"replace": f", replacing “{old}”", "append": f", after “{old}”"}.get(mode if old else None, "")
    with transaction(conn):
        queries.update_item_fields(conn, target_id, {field: value})
        _log(conn, batch, user_id, "copy metadata", what, members,
             undo={"kind": "field", "item": target_id, "field": field, "value": old})


def _log(conn, batch, user_id, action, detail, members, undo=None):
    ids = [m["id"] for m in members]
    qr.log_action(conn, batch["archive_id"], batch["id"], user_id, action, detail, ids, group_key(ids), undo)
