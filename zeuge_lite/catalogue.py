"""Changes to a batch's items that several screens share: permanent delete and reordering."""
from zeuge_lite import queries
from zeuge_lite.db import transaction


class StaleOrder(Exception):
    """The order was changed elsewhere since the page was loaded."""


def delete_items(conn, storage, items):
    """Delete items with their metadata and responses; remove files no other item uses."""
    with transaction(conn):
        for item in items:
            queries.delete_item(conn, item["id"])
        orphans = {(i["sha256"], i["ext"]) for i in items if not queries.file_in_use(conn, i["sha256"])}
        for sha256, _ext in orphans:
            queries.delete_file_row(conn, sha256)
    for sha256, ext in orphans:  # after commit: a failed transaction must not lose files
        storage.remove(sha256, ext)
    return len(items)


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
