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
    refusing it if the page was stale or the ids are not the items at those positions; log what moved.
    Only the window's rows are written."""
    with transaction(conn):
        if queries.batch_order_version(conn, batch["id"]) != expected_version or offset < 0:
            raise StaleOrder()
        _close_gaps(conn, batch["id"])
        window = queries.item_ids_window(conn, batch["id"], offset, len(item_ids))
        if sorted(window) != sorted(item_ids):
            raise StaleOrder()
        queries.set_positions(conn, batch["id"], [(offset + n, new) for n, (new, old)
                                                  in enumerate(zip(item_ids, window), start=1) if new != old])
        queries.bump_order_version(conn, batch["id"])
        _log_moves(conn, batch, user_id, window, list(item_ids), "drag and drop", first=offset + 1)


def move_item(conn, batch, item_id, expected_version, user_id, step=None, position=None):
    """Move one item one place earlier (step -1) or later (+1), or to a 1-based position (clamped to the batch);
    refuse a stale page; log it. Returns the item's new 1-based position. The items in between shift by one
    place in one statement; the rest of the batch is not written."""
    batch_id = batch["id"]
    with transaction(conn):
        if queries.batch_order_version(conn, batch_id) != expected_version:
            raise StaleOrder()
        _close_gaps(conn, batch_id)
        was = queries.position_of(conn, batch_id, item_id)
        if was is None:
            raise StaleOrder()
        target = was + step if position is None else position
        target = min(max(target, 1), queries.count_items(conn, batch_id))
        how = "typed position" if position is not None else "arrow"
        if abs(target - was) == 1:  # a swap of neighbours: the longest-run rule decides which one moved
            other = queries.item_at(conn, batch_id, target)
            before = [item_id, other] if target > was else [other, item_id]
            _log_moves(conn, batch, user_id, before, before[::-1], how, first=min(was, target))
        elif target != was:
            _log_moved(conn, batch, user_id, [(item_id, was, target)], how)
        if target > was:
            queries.shift_positions(conn, batch_id, was + 1, target, -1)
        elif target < was:
            queries.shift_positions(conn, batch_id, target, was - 1, 1)
        queries.set_positions(conn, batch_id, [(target, item_id)])
        queries.bump_order_version(conn, batch_id)
    return target


def _close_gaps(conn, batch_id):
    """Positions 1..n before a reorder works on them (a delete leaves gaps; older batches may have them)."""
    if not queries.positions_are_dense(conn, batch_id):
        queries.close_gaps(conn, batch_id)


def _log_moves(conn, batch, user_id, before, after, how, first=1):
    """An audit entry naming the items a reorder moved on purpose, with their old and new positions; before and
    after are the ids at positions first.. in the old and the new order."""
    was = {item_id: n for n, item_id in enumerate(before, start=first)}
    now = {item_id: n for n, item_id in enumerate(after, start=first)}
    _log_moved(conn, batch, user_id, [(i, was[i], now[i]) for i in _moved_on_purpose(before, after)], how)


def _log_moved(conn, batch, user_id, moved, how):
    """The audit entry of a reorder from [(item id, old position, new position)], undoable."""
    if not moved:
        return
    names = queries.filenames(conn, [item_id for item_id, _was, _now in moved[:NAMED_MOVES]])
    parts = [f"“{names[item_id]}” from {was} to {now}" for item_id, was, now in moved[:NAMED_MOVES]]
    more = f" and {len(moved) - NAMED_MOVES} more" if len(moved) > NAMED_MOVES else ""
    undo = {"kind": "order", "batch": batch["id"], "positions": [[item_id, was] for item_id, was, _now in moved]}
    qr.log_action(conn, batch["archive_id"], batch["id"], user_id, "reorder",
                  f"moved {', '.join(parts)}{more} ({how})", [item_id for item_id, _was, _now in moved], undo=undo)


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
