"""Reordering a batch's items (several screens share it) and editing their metadata by hand, each logged in the
same transaction. Deleting is zeuge_lite.trash."""
import bisect

from zeuge_lite import queries
from zeuge_lite import queries_review as qr
from zeuge_lite.db import transaction

NAMED_MOVES = 5  # an audit entry names this many moved items, then counts the rest


class StaleOrder(Exception):
    """The order was changed elsewhere since the page was loaded."""


def apply_order(conn, batch, item_ids, expected_version, user_id, offset=0):
    """Save a new order of the items shown from position offset on (a page of the grid, or all of it),
    refusing it if the page was stale or the ids are not the items at those positions; log what moved."""
    with transaction(conn):
        current = queries.item_ids_in_order(conn, batch["id"])
        window = current[offset:offset + len(item_ids)]
        if queries.batch_order_version(conn, batch["id"]) != expected_version or offset < 0 or \
                sorted(window) != sorted(item_ids):
            raise StaleOrder()
        new_order = current[:offset] + list(item_ids) + current[offset + len(item_ids):]
        queries.set_order(conn, batch["id"], new_order)
        _log_moves(conn, batch, user_id, current, new_order, "drag and drop")


def move_item(conn, batch, item_id, expected_version, user_id, step=None, position=None):
    """Move one item one place earlier (step -1) or later (+1), or to a 1-based position (clamped to the batch);
    refuse a stale page; log it. Returns the item's new 1-based position."""
    with transaction(conn):
        order = queries.item_ids_in_order(conn, batch["id"])
        if queries.batch_order_version(conn, batch["id"]) != expected_version or item_id not in order:
            raise StaleOrder()
        before = list(order)
        index = order.index(item_id)
        target = index + step if position is None else position - 1
        target = min(max(target, 0), len(order) - 1)
        order.insert(target, order.pop(index))
        queries.set_order(conn, batch["id"], order)
        _log_moves(conn, batch, user_id, before, order, "typed position" if position is not None else "arrow")
    return target + 1


def _log_moves(conn, batch, user_id, before, after, how):
    """An audit entry naming the items a reorder moved on purpose, with their old and new positions."""
    was = {item_id: n for n, item_id in enumerate(before, start=1)}
    moved = _moved_on_purpose(before, after)
    if not moved:
        return
    names = queries.filenames(conn, moved[:NAMED_MOVES])
    parts = [f"“{names[i]}” from {was[i]} to {after.index(i) + 1}" for i in moved[:NAMED_MOVES]]
    more = f" and {len(moved) - NAMED_MOVES} more" if len(moved) > NAMED_MOVES else ""
    qr.log_action(conn, batch["archive_id"], batch["id"], user_id, "reorder",
                  f"moved {', '.join(parts)}{more} ({how})", moved, undo=order_undo(batch, before, moved))


def order_undo(batch, before, moved):
    """What puts moved items back where they were in `before` (an audit entry's undo)."""
    was = {item_id: n for n, item_id in enumerate(before, start=1)}
    return {"kind": "order", "batch": batch["id"], "positions": [[i, was[i]] for i in moved]}


def restore_positions(conn, batch_id, positions):
    """Put items back at their earlier 1-based positions, the others keeping their order; return the ids put
    back (those still in the batch). With no change in between, this is the order before the move."""
    current = queries.item_ids_in_order(conn, batch_id)
    present = set(current)
    back = sorted((pos, item_id) for item_id, pos in positions if item_id in present)
    going_back = {item_id for _pos, item_id in back}
    order = [i for i in current if i not in going_back]
    for pos, item_id in back:
        order.insert(min(pos - 1, len(order)), item_id)
    queries.set_order(conn, batch_id, order)
    return [item_id for _pos, item_id in back]


def _moved_on_purpose(before, after):
    """The items whose move makes the difference: those out of place in the longest run the two orders share
    (moving one tile shifts its neighbours by one, which is not worth naming)."""
    rank = {item_id: n for n, item_id in enumerate(before)}
    kept = set(_longest_increasing([rank[i] for i in after]))
    return [i for i in after if rank[i] not in kept]


def _longest_increasing(values):
    """One longest strictly increasing subsequence of values (patience sorting, n log n)."""
    tails, tails_at, parent = [], [], [None] * len(values)
    for n, value in enumerate(values):
        k = bisect.bisect_left(tails, value)
        if k == len(tails):
            tails.append(value)
            tails_at.append(n)
        else:
            tails[k], tails_at[k] = value, n
        parent[n] = tails_at[k - 1] if k else None
    result, n = [], tails_at[-1] if tails_at else None
    while n is not None:
        result.append(values[n])
        n = parent[n]
    return result[::-1]


def edit_fields(conn, item, fields, user_id):
    """Save an item's archival fields by hand and log what changed, with the values it replaced (undoable);
    return the names of the fields that changed."""
    changed = {name: value for name, value in fields.items()
               if name in queries.ITEM_FIELDS and (item[name] or "") != value}
    if not changed:
        return []
    detail = "; ".join(f"{name.replace('_', ' ')} “{item[name] or ''}” → “{value}”" for name, value in changed.items())
    undo = {"kind": "fields", "item": item["id"], "values": {name: item[name] or "" for name in changed}}
    with transaction(conn):
        queries.update_item_fields(conn, item["id"], changed)
        qr.log_action(conn, item["archive_id"], item["batch_id"], user_id, "edit metadata",
                      f"edited “{item['filename']}”: {detail}", [item["id"]], undo=undo)
    return list(changed)
