"""Reordering a batch's items (several screens share it). Deleting is zeuge_lite.trash."""
from zeuge_lite import queries
from zeuge_lite.db import transaction


class StaleOrder(Exception):
    """The order was changed elsewhere since the page was loaded."""


def apply_order(conn, batch_id, item_ids, expected_version, offset=0):
    """Save a new order of the items shown from position offset on (a page of the grid, or all of it),
    refusing it if the page was stale or the ids are not the items at those positions."""
    with transaction(conn):
        current = queries.item_ids_in_order(conn, batch_id)
        window = current[offset:offset + len(item_ids)]
        if queries.batch_order_version(conn, batch_id) != expected_version or offset < 0 or \
                sorted(window) != sorted(item_ids):
            raise StaleOrder()
        queries.set_order(conn, batch_id, current[:offset] + list(item_ids) + current[offset + len(item_ids):])


def move_item(conn, batch_id, item_id, expected_version, step=None, position=None):
    """Move one item one place earlier (step -1) or later (+1), or to a 1-based position (clamped to the batch);
    refuse a stale page. Returns the item's new 1-based position."""
    with transaction(conn):
        order = queries.item_ids_in_order(conn, batch_id)
        if queries.batch_order_version(conn, batch_id) != expected_version or item_id not in order:
            raise StaleOrder()
        index = order.index(item_id)
        target = index + step if position is None else position - 1
        target = min(max(target, 0), len(order) - 1)
        order.insert(target, order.pop(index))
        queries.set_order(conn, batch_id, order)
    return target + 1
