"""The review screen's work on a group: member details, keep-best, place together, not duplicates,
metadata consolidation. Plain functions on a connection; no Flask here."""
import itertools

from PIL import Image

from zeuge_lite import catalogue, queries
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


def delete_members(conn, storage, batch, members, user_id, group_members_all):
    """Delete some members permanently (as the Items tab does) and log it against their group."""
    catalogue.delete_items(conn, storage, members)
    names = ", ".join(m["filename"] for m in members)
    qr.log_action(conn, batch["archive_id"], batch["id"], user_id, "delete",
                  f"deleted {len(members)} items permanently: {names}", [m["id"] for m in members],
                  group_key(m["id"] for m in group_members_all))


def compare_rows(members):
    """Rows of the metadata compare table: field, values per member, whether they differ."""
    rows = []
    for field in COMPARE_FIELDS:
        values = [m[field] if m[field] not in (None, "") else "" for m in members]
        rows.append({"field": field, "cells": values, "differs": len({str(v) for v in values}) > 1})
    return rows


def copy_field(conn, batch, members, field, source_id, target_id, user_id):
    """Copy one archival field's value from one member to another (consolidation); log it."""
    if field not in queries.ITEM_FIELDS:
        raise ValueError(f"{field} cannot be copied")
    source = next(m for m in members if m["id"] == source_id)
    target = next(m for m in members if m["id"] == target_id)
    with transaction(conn):
        queries.update_item_fields(conn, target_id, {field: source[field]})
        _log(conn, batch, user_id, "copy metadata",
             f"copied {field} “{source[field]}” from “{source['filename']}” to “{target['filename']}”", members)


def _log(conn, batch, user_id, action, detail, members):
    ids = [m["id"] for m in members]
    qr.log_action(conn, batch["archive_id"], batch["id"], user_id, action, detail, ids, group_key(ids))
