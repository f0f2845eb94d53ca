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


def apply_order(conn, batch_id, item_ids, expected_version):
    """Save a full new order, refusing it if the page was stale or the ids are not the batch's items."""
    with transaction(conn):
        current = queries.item_ids_in_order(conn, batch_id)
        if queries.batch_order_version(conn, batch_id) != expected_version or \
                sorted(current) != sorted(item_ids):
            raise StaleOrder()
        queries.set_order(conn, batch_id, item_ids)


def move_item(conn, batch_id, item_id, step, expected_version):
    """Move one item one place earlier (step -1) or later (+1), refusing a stale page."""
    with transaction(conn):
        order = queries.item_ids_in_order(conn, batch_id)
        if queries.batch_order_version(conn, batch_id) != expected_version or item_id not in order:
            raise StaleOrder()
        index = order.index(item_id)
        target = min(max(index + step, 0), len(order) - 1)
        order.insert(target, order.pop(index))
        queries.set_order(conn, batch_id, order)
