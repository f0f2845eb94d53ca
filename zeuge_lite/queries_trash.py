"""All SQL of the trash: items moved out of their batches, waiting to be restored or purged. No Flask here."""
import json


def item_row(conn, item_id):
    """An item's own row (every column, as a dict), or None."""
    row = conn.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
    return dict(row) if row else None


def rows_of(conn, table, item_id):
    """An item's rows in a table that refers to it (responses, pairs, item_scores), as plain dicts."""
    where = {"responses": "item_id = ?", "item_scores": "item_id = ?", "pairs": "a_item = ? OR b_item = ?"}[table]
    return [dict(r) for r in conn.execute(f"SELECT * FROM {table} WHERE {where}", (item_id,) * where.count("?"))]


def put(conn, archive_id, batch_name, position, item, related, user_id, days):
    """Put one item's row and its related rows ({"responses", "pairs", "scores"}) into the archive's trash for
    `days` days; return the trash entry's id."""
    return conn.execute(
        "INSERT INTO trash (archive_id, batch_id, batch_name, item_id, position, sha256, filename, item, responses, "
        "pairs, scores, trashed_by, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, datetime('now', ?))",
        (archive_id, item["batch_id"], batch_name, item["id"], position, item["sha256"], item["filename"],
         json.dumps(item), json.dumps(related["responses"]), json.dumps(related["pairs"]),
         json.dumps(related["scores"]), user_id, f"+{int(days)} days")).lastrowid


_ENTRY = ("SELECT t.*, u.name AS trashed_by_name, f.ext, f.width, f.height, f.size, "
          "CAST(julianday(t.expires_at) - julianday('now') AS INTEGER) AS days_left, "
          "EXISTS (SELECT 1 FROM batches b WHERE b.id = t.batch_id AND b.archive_id = t.archive_id) AS batch_exists "
          "FROM trash t JOIN files f ON f.sha256 = t.sha256 LEFT JOIN users u ON u.id = t.trashed_by ")


def entries(conn, archive_id, limit, offset=0):
    """A page of an archive's trash, most recently trashed first."""
    return conn.execute(_ENTRY + "WHERE t.archive_id = ? ORDER BY t.id DESC LIMIT ? OFFSET ?",
                        (archive_id, limit, offset)).fetchall()


def count(conn, archive_id):
    """How many items an archive's trash holds."""
    return conn.execute("SELECT count(*) FROM trash WHERE archive_id = ?", (archive_id,)).fetchone()[0]


def entries_by_ids(conn, archive_id, trash_ids):
    """The archive's trash entries among trash_ids (others' ids are ignored), oldest first."""
    trash_ids = list(trash_ids)
    if not trash_ids:
        return []
    marks = ",".join("?" * len(trash_ids))
    return conn.execute(_ENTRY + f"WHERE t.archive_id = ? AND t.id IN ({marks}) ORDER BY t.id",
                        [archive_id, *trash_ids]).fetchall()


def all_entries(conn, archive_id):
    """Every entry of an archive's trash, oldest first."""
    return conn.execute(_ENTRY + "WHERE t.archive_id = ? ORDER BY t.id", (archive_id,)).fetchall()


def expired_entries(conn):
    """Entries of every archive whose time in the trash is over."""
    return conn.execute(_ENTRY + "WHERE t.expires_at <= datetime('now') ORDER BY t.id").fetchall()


def forget_batch(conn, batch_id):
    """A batch is being deleted: its entries no longer point at its id (a new batch may get it)."""
    conn.execute("UPDATE trash SET batch_id = NULL, deleted_batch = ? WHERE batch_id = ?", (batch_id, batch_id))


def current_batch_id(conn, trash_id):
    """An entry's batch id as it is now (restoring a sibling may have set it)."""
    return conn.execute("SELECT batch_id FROM trash WHERE id = ?", (trash_id,)).fetchone()[0]


def adopt(conn, archive_id, deleted_batch, batch_id):
    """Entries of a deleted batch now belong to the batch made again for them."""
    conn.execute("UPDATE trash SET batch_id = ?, deleted_batch = NULL WHERE archive_id = ? AND deleted_batch = ?",
                 (batch_id, archive_id, deleted_batch))


def remove(conn, trash_id):
    """Forget one trash entry (restored or purged)."""
    conn.execute("DELETE FROM trash WHERE id = ?", (trash_id,))


def id_is_free(conn, item_id):
    """Whether no item has this id (a trashed item takes its old id back when it can)."""
    return conn.execute("SELECT 1 FROM items WHERE id = ?", (item_id,)).fetchone() is None


def batch_in_archive(conn, archive_id, batch_id):
    """The batch's row if it still exists in this archive, else None."""
    return conn.execute("SELECT * FROM batches WHERE id = ? AND archive_id = ?", (batch_id, archive_id)).fetchone()


RESTORABLE = ("items", "responses", "pairs", "item_scores")


def table_columns(conn, table):
    """The column names of a table today (rows trashed under an older schema fill only these)."""
    return [row["name"] for row in conn.execute(f"PRAGMA table_info({table})")]


def insert_row(conn, table, row, columns):
    """Put a trashed row back into one of the RESTORABLE tables (only the columns it has); return its rowid."""
    if table not in RESTORABLE:
        raise ValueError(table)
    names = [c for c in columns if c in row]
    return conn.execute(f"INSERT OR IGNORE INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                        [row[c] for c in names]).lastrowid


def in_batch(conn, item_id, batch_id):
    """Whether an item is (still) in a batch."""
    return conn.execute("SELECT 1 FROM items WHERE id = ? AND batch_id = ?", (item_id, batch_id)).fetchone() is not None
