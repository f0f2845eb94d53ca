"""All SQL of the app: plain functions taking the connection first. No Flask here."""

import json

ITEM_FIELDS = ("title", "date", "description", "creator", "contributor", "rights", "subject",
               "accession_number")

# --- users -----------------------------------------------------------------------------------


def create_user(conn, email, name, password_hash):
    """Insert a user and return its id."""
    cur = conn.execute("INSERT INTO users (email, name, password_hash) VALUES (?, ?, ?)",
                       (email, name, password_hash))
    return cur.lastrowid


def user_by_id(conn, user_id):
    """One user row or None."""
    return conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()


def user_by_email(conn, email):
    """One user row by e-mail (case-insensitive) or None."""
    return conn.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()


def set_password_hash(conn, user_id, password_hash):
    """Replace a user's password hash."""
    conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))


# --- login sessions --------------------------------------------------------------------------


def create_session(conn, token_hash, user_id, lifetime_s):
    """Record a login that lasts lifetime_s seconds at most."""
    conn.execute("INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?, ?, datetime('now', ?))",
                 (token_hash, user_id, f"+{int(lifetime_s)} seconds"))


def user_by_session(conn, token_hash):
    """The user of a login that is neither revoked nor expired, or None."""
    return conn.execute("SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id "
                        "WHERE s.token_hash = ? AND s.expires_at > datetime('now')", (token_hash,)).fetchone()


def delete_session(conn, token_hash):
    """Revoke one login."""
    conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))


def delete_sessions_of_user(conn, user_id, keep_hash=None):
    """Revoke every login of a user, but keep_hash (the one making the request) if given."""
    conn.execute("DELETE FROM sessions WHERE user_id = ? AND token_hash IS NOT ?", (user_id, keep_hash))


def delete_expired_sessions(conn):
    """Forget logins that have expired; return how many."""
    return conn.execute("DELETE FROM sessions WHERE expires_at <= datetime('now')").rowcount


# --- archives and memberships ----------------------------------------------------------------


def create_archive(conn, name, plan="free"):
    """Insert an archive and return its id."""
    return conn.execute("INSERT INTO archives (name, plan) VALUES (?, ?)", (name, plan)).lastrowid


def rename_archive(conn, archive_id, name):
    """Give an archive a new name."""
    conn.execute("UPDATE archives SET name = ? WHERE id = ?", (name, archive_id))


def add_member(conn, archive_id, user_id, role):
    """Give a user a role in an archive (or change it)."""
    conn.execute("INSERT INTO memberships (user_id, archive_id, role) VALUES (?, ?, ?) "
                 "ON CONFLICT (user_id, archive_id) DO UPDATE SET role = excluded.role",
                 (user_id, archive_id, role))


def members_of_archive(conn, archive_id):
    """An archive's members with their roles, owners first."""
    return conn.execute(
        "SELECT u.id, u.name, u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id "
        "WHERE m.archive_id = ? ORDER BY m.role != 'owner', u.name", (archive_id,)).fetchall()


def remove_member(conn, archive_id, user_id):
    """Take a user out of an archive."""
    conn.execute("DELETE FROM memberships WHERE archive_id = ? AND user_id = ?", (archive_id, user_id))


def owner_count(conn, archive_id):
    """How many owners an archive has."""
    return conn.execute("SELECT count(*) FROM memberships WHERE archive_id = ? AND role = 'owner'",
                        (archive_id,)).fetchone()[0]


def archives_of_user(conn, user_id):
    """The archives a user belongs to, with the user's role and batch count."""
    return conn.execute(
        "SELECT a.*, m.role, (SELECT count(*) FROM batches b WHERE b.archive_id = a.id) AS batch_count "
        "FROM archives a JOIN memberships m ON m.archive_id = a.id WHERE m.user_id = ? ORDER BY a.name",
        (user_id,)).fetchall()


def archive_for_member(conn, archive_id, user_id):
    """An archive with the user's role, or None if the user is not a member."""
    return conn.execute(
        "SELECT a.*, m.role FROM archives a JOIN memberships m ON m.archive_id = a.id "
        "WHERE a.id = ? AND m.user_id = ?", (archive_id, user_id)).fetchone()


def archive_by_name(conn, name):
    """One archive by exact name, or None."""
    return conn.execute("SELECT * FROM archives WHERE name = ?", (name,)).fetchone()


def archive_by_id(conn, archive_id):
    """One archive by id, or None."""
    return conn.execute("SELECT * FROM archives WHERE id = ?", (archive_id,)).fetchone()


def set_plan(conn, archive_id, plan):
    """Change an archive's plan."""
    conn.execute("UPDATE archives SET plan = ? WHERE id = ?", (plan, archive_id))


# --- batches ---------------------------------------------------------------------------------


def create_batch(conn, archive_id, name):
    """Insert a batch and return its id."""
    return conn.execute("INSERT INTO batches (archive_id, name) VALUES (?, ?)",
                        (archive_id, name)).lastrowid


def batches_of_archive(conn, archive_id):
    """An archive's batches with their item counts, newest first."""
    return conn.execute(
        "SELECT b.*, (SELECT count(*) FROM items i WHERE i.batch_id = b.id) AS item_count "
        "FROM batches b WHERE b.archive_id = ? ORDER BY b.id DESC", (archive_id,)).fetchall()


def batch_for_member(conn, batch_id, user_id):
    """A batch with its archive's plan and the user's role, or None if the user may not see it."""
    return conn.execute(
        "SELECT b.*, a.name AS archive_name, a.plan, m.role FROM batches b "
        "JOIN archives a ON a.id = b.archive_id "
        "JOIN memberships m ON m.archive_id = a.id AND m.user_id = ? WHERE b.id = ?",
        (user_id, batch_id)).fetchone()


def batch_in_archive(conn, archive_id, batch_id):
    """Whether a batch (still) belongs to the archive."""
    return conn.execute("SELECT 1 FROM batches WHERE id = ? AND archive_id = ?", (batch_id, archive_id)).fetchone() \
        is not None


def rename_batch(conn, batch_id, name):
    """Rename a batch."""
    conn.execute("UPDATE batches SET name = ? WHERE id = ?", (name, batch_id))


def delete_batch(conn, batch_id):
    """Delete a batch; its items and responses go with it (ON DELETE CASCADE)."""
    conn.execute("DELETE FROM batches WHERE id = ?", (batch_id,))


# --- files -----------------------------------------------------------------------------------


def upsert_file(conn, info):
    """Record a stored original's technical data once per sha256."""
    conn.execute(
        "INSERT INTO files (sha256, size, ext, format, mode, bit_depth, width, height, dpi, frames, "
        "taken_at, camera, orientation, sharpness, embedded, plain) VALUES (:sha256, :size, :ext, :format, :mode, "
        ":bit_depth, :width, :height, :dpi, :frames, :taken_at, :camera, :orientation, :sharpness, :embedded, "
        ":plain) ON CONFLICT (sha256) DO UPDATE SET embedded = coalesce(files.embedded, excluded.embedded), "
        "plain = coalesce(files.plain, excluded.plain)", {"embedded": None, "plain": None, **info})


_FILE_USED = ("(EXISTS (SELECT 1 FROM items WHERE items.sha256 = ?) OR "
              "EXISTS (SELECT 1 FROM trash WHERE trash.sha256 = ?))")


def file_in_use(conn, sha256):
    """True if any item, in a batch or in a trash, still refers to this content."""
    return bool(conn.execute("SELECT " + _FILE_USED, (sha256, sha256)).fetchone()[0])


def delete_file_row(conn, sha256):
    """Forget a file that no item uses any more (its features go with it)."""
    conn.execute("DELETE FROM files WHERE sha256 = ? AND NOT " + _FILE_USED, (sha256, sha256, sha256))


# --- items -----------------------------------------------------------------------------------

# An item with its file's data, for every query that lists items (the similarity queries use it too).
ITEM_COLUMNS = (
    "SELECT i.*, f.size, f.ext, f.format, f.mode, f.bit_depth, f.width, f.height, f.dpi, f.frames, "
    "f.taken_at, f.camera, f.orientation, f.sharpness, f.embedded, f.plain, u.name AS uploader_name ")
ITEM_JOINS = "JOIN files f ON f.sha256 = i.sha256 LEFT JOIN users u ON u.id = i.uploader_id "
ITEM_SELECT = ITEM_COLUMNS + "FROM items i " + ITEM_JOINS


def add_item(conn, batch_id, sha256, filename, uploader_id):
    """Append an item at the end of a batch's order and return its id."""
    return conn.execute(
        "INSERT INTO items (batch_id, sha256, filename, uploader_id, position) VALUES (?, ?, ?, ?, "
        "(SELECT coalesce(max(position), 0) + 1 FROM items WHERE batch_id = ?))",
        (batch_id, sha256, filename, uploader_id, batch_id)).lastrowid


def filenames(conn, item_ids):
    """{item id: file name} for some items."""
    item_ids = list(item_ids)
    marks = ",".join("?" * len(item_ids))
    return dict(conn.execute(f"SELECT id, filename FROM items WHERE id IN ({marks})", item_ids).fetchall()) \
        if item_ids else {}


def filename_of_content(conn, batch_id, sha256):
    """The file name of the first item in a batch that holds this content, or None."""
    row = conn.execute("SELECT filename FROM items WHERE batch_id = ? AND sha256 = ? ORDER BY position LIMIT 1",
                       (batch_id, sha256)).fetchone()
    return row[0] if row else None


def item_in_batch_by_sha(conn, batch_id, sha256):
    """The item of a batch that holds this exact content, or None."""
    return conn.execute("SELECT * FROM items WHERE batch_id = ? AND sha256 = ? ORDER BY position LIMIT 1",
                        (batch_id, sha256)).fetchone()


def items_of_batch(conn, batch_id):
    """A batch's items in batch order, with file data."""
    return iter_items_of_batch(conn, batch_id).fetchall()


def iter_items_of_batch(conn, batch_id):
    """items_of_batch as a cursor, a row at a time (a streamed export of a large batch)."""
    return conn.execute(ITEM_SELECT + "WHERE i.batch_id = ? ORDER BY i.position, i.id", (batch_id,))


def iter_originals_of_batch(conn, batch_id):
    """(filename, sha256, ext) of a batch's items in batch order, as a cursor: what a ZIP's check needs only."""
    return conn.execute("SELECT i.filename, f.sha256, f.ext FROM items i JOIN files f ON f.sha256 = i.sha256 "
                        "WHERE i.batch_id = ? ORDER BY i.position, i.id", (batch_id,))


def count_items(conn, batch_id):
    """How many items a batch holds."""
    return conn.execute("SELECT count(*) FROM items WHERE batch_id = ?", (batch_id,)).fetchone()[0]


def items_page(conn, batch_id, offset, limit):
    """A window of a batch's items in batch order, each with its 1-based position_number."""
    rows = conn.execute(ITEM_SELECT + "WHERE i.batch_id = ? ORDER BY i.position, i.id LIMIT ? OFFSET ?",
                        (batch_id, limit, offset)).fetchall()
    return [dict(row, position_number=offset + n) for n, row in enumerate(rows, start=1)]


_NUMBERED = ("WITH numbered AS (SELECT id, row_number() OVER (ORDER BY position, id) AS position_number "
             "FROM items WHERE batch_id = ?) ")


def items_by_ids(conn, batch_id, item_ids):
    """The batch's items among item_ids, in batch order, each with its 1-based position_number."""
    item_ids = list(item_ids)
    if not item_ids:
        return []
    ids = json.dumps(item_ids)  # one parameter, however large the group (SQLite allows 32,766 of them)
    if positions_are_dense(conn, batch_id):  # a position is then its place: no numbering of the whole batch
        return [dict(row) for row in conn.execute(
            ITEM_COLUMNS + ", i.position AS position_number FROM json_each(?) j CROSS JOIN items i ON i.id = j.value "
            + ITEM_JOINS + "WHERE i.batch_id = ? ORDER BY i.position", [ids, batch_id])]
    return [dict(row) for row in conn.execute(
        _NUMBERED + ITEM_COLUMNS + ", n.position_number FROM numbered n JOIN items i ON i.id = n.id "
        + ITEM_JOINS + "WHERE n.id IN (SELECT value FROM json_each(?)) ORDER BY n.position_number", [batch_id, ids])]


def item_in_archive(conn, archive_id, item_id):
    """An item (with file data) if it is in one of the archive's batches, else None."""
    return conn.execute(ITEM_COLUMNS + "FROM items i " + ITEM_JOINS + "JOIN batches b ON b.id = i.batch_id "
                        "WHERE i.id = ? AND b.archive_id = ?", (item_id, archive_id)).fetchone()


def item_for_member(conn, item_id, user_id):
    """An item with file data, its batch's archive, plan and the user's role; None if not visible."""
    return conn.execute(
        ITEM_COLUMNS + ", b.name AS batch_name, b.archive_id, a.plan, m.role FROM items i "
        + ITEM_JOINS + "JOIN batches b ON b.id = i.batch_id JOIN archives a ON a.id = b.archive_id "
        "JOIN memberships m ON m.archive_id = a.id AND m.user_id = ? WHERE i.id = ?",
        (user_id, item_id)).fetchone()


def update_item_fields(conn, item_id, fields):
    """Set archival metadata fields of an item (only names in ITEM_FIELDS)."""
    names = [name for name in fields if name in ITEM_FIELDS]
    if names:
        assignments = ", ".join(f"{name} = ?" for name in names)
        conn.execute(f"UPDATE items SET {assignments} WHERE id = ?",
                     [fields[name] for name in names] + [item_id])


def file_embedded(conn, sha256):
    """A stored file's embedded metadata as JSON text, or None."""
    row = conn.execute("SELECT embedded FROM files WHERE sha256 = ?", (sha256,)).fetchone()
    return row[0] if row else None


def set_item_sidecar(conn, item_id, sidecar_json):
    """Record the fields of an item's XMP sidecar (JSON text)."""
    conn.execute("UPDATE items SET sidecar = ? WHERE id = ?", (sidecar_json, item_id))


def set_item_filled(conn, item_id, filled_json):
    """Record which archival fields were filled from the file, and with what (JSON text)."""
    conn.execute("UPDATE items SET filled = ? WHERE id = ?", (filled_json, item_id))


def items_named_like(conn, batch_id, stem):
    """A batch's items whose file name is stem or stem plus one suffix (a sidecar's photos), newest first."""
    return conn.execute(
        "SELECT * FROM items WHERE batch_id = ? AND (filename = ? OR substr(filename, 1, ?) = ?) ORDER BY id DESC",
        (batch_id, stem, len(stem) + 1, stem + ".")).fetchall()


def set_fill_from_file(conn, batch_id, on):
    """Turn the batch setting "fill empty archival fields from the file's metadata" on or off."""
    conn.execute("UPDATE batches SET fill_from_file = ? WHERE id = ?", (int(bool(on)), batch_id))


def batch_fill_from_file(conn, batch_id):
    """Whether uploads to the batch fill empty archival fields from embedded metadata."""
    row = conn.execute("SELECT fill_from_file FROM batches WHERE id = ?", (batch_id,)).fetchone()
    return bool(row and row[0])


def plain_items(conn, batch_id):
    """A batch's blank or plain pages, in batch order, each with its 1-based position_number."""
    if positions_are_dense(conn, batch_id):
        # From the few plain files to their items (CROSS JOIN keeps that order), not from every item of the batch.
        return [dict(row) for row in conn.execute(
            ITEM_COLUMNS + ", i.position AS position_number FROM files f CROSS JOIN items i ON i.sha256 = f.sha256 "
            "LEFT JOIN users u ON u.id = i.uploader_id WHERE f.plain = 1 AND i.batch_id = ? ORDER BY i.position",
            (batch_id,))]
    rows = conn.execute(
        _NUMBERED + ITEM_COLUMNS + ", n.position_number FROM numbered n JOIN items i ON i.id = n.id "
        + ITEM_JOINS + "WHERE f.plain = 1 ORDER BY n.position_number", (batch_id,)).fetchall()
    return [dict(row) for row in rows]


def plain_shas(conn, batch_id):
    """The contents of a batch's items that are blank or plain pages."""
    return {row[0] for row in conn.execute(
        "SELECT DISTINCT i.sha256 FROM items i JOIN files f ON f.sha256 = i.sha256 WHERE i.batch_id = ? "
        "AND f.plain = 1", (batch_id,))}


def delete_item(conn, item_id):
    """Delete an item; its responses go with it (ON DELETE CASCADE)."""
    conn.execute("DELETE FROM items WHERE id = ?", (item_id,))


def item_ids_in_order(conn, batch_id):
    """A batch's item ids in batch order."""
    return [row[0] for row in conn.execute(
        "SELECT id FROM items WHERE batch_id = ? ORDER BY position, id", (batch_id,))]


def set_order(conn, batch_id, item_ids):
    """Write positions 1..n in the given order and bump the batch's order version."""
    set_positions(conn, batch_id, enumerate(item_ids, start=1))
    bump_order_version(conn, batch_id)


def positions_are_dense(conn, batch_id):
    """Whether the batch's positions are 1..n, each item's position its 1-based place (every writer keeps
    positions distinct, so this holds when the highest equals the count; a delete leaves gaps until
    close_gaps)."""
    count, low, high = conn.execute("SELECT count(*), coalesce(min(position), 1), coalesce(max(position), 0) "
                                    "FROM items WHERE batch_id = ?", (batch_id,)).fetchone()
    return low == 1 and high == count


def close_gaps(conn, batch_id):
    """Renumber the batch's positions 1..n in their order, writing only the rows whose number changes."""
    conn.execute("UPDATE items SET position = n.number FROM (SELECT id, row_number() OVER (ORDER BY position, id) "
                 "AS number FROM items WHERE batch_id = ?) AS n WHERE items.id = n.id AND items.position != n.number",
                 (batch_id,))


def item_ids_window(conn, batch_id, offset, limit):
    """The ids of a window of a batch's order: `limit` items from 0-based place `offset` on."""
    return [row[0] for row in conn.execute(
        "SELECT id FROM items WHERE batch_id = ? ORDER BY position, id LIMIT ? OFFSET ?", (batch_id, limit, offset))]


def position_of(conn, batch_id, item_id):
    """An item's position in its batch, or None if it is not in the batch."""
    row = conn.execute("SELECT position FROM items WHERE id = ? AND batch_id = ?", (item_id, batch_id)).fetchone()
    return row and row[0]


def item_at(conn, batch_id, position):
    """The id of the item at a position of a batch (positions 1..n), or None."""
    row = conn.execute("SELECT id FROM items WHERE batch_id = ? AND position = ?", (batch_id, position)).fetchone()
    return row and row[0]


def shift_positions(conn, batch_id, first, last, by):
    """Move the items at positions first..last by `by` places, in one statement."""
    conn.execute("UPDATE items SET position = position + ? WHERE batch_id = ? AND position BETWEEN ? AND ?",
                 (by, batch_id, first, last))


def set_positions(conn, batch_id, positions):
    """Give items new positions: [(position, item id)]; the order version is the caller's to bump."""
    conn.executemany("UPDATE items SET position = ? WHERE id = ? AND batch_id = ?",
                     [(pos, item_id, batch_id) for pos, item_id in positions])


def bump_order_version(conn, batch_id):
    """Count one more change of the batch's order (pages loaded before it are stale)."""
    conn.execute("UPDATE batches SET order_version = order_version + 1 WHERE id = ?", (batch_id,))


def batch_order_version(conn, batch_id):
    """The batch's current order version (bumped on every reorder)."""
    return conn.execute("SELECT order_version FROM batches WHERE id = ?", (batch_id,)).fetchone()[0]


# --- responses -------------------------------------------------------------------------------


def add_response(conn, item_id, user_id, body):
    """Add a contributor's free-text response to an item."""
    conn.execute("INSERT INTO responses (item_id, user_id, body) VALUES (?, ?, ?)", (item_id, user_id, body))


def responses_of_item(conn, item_id):
    """An item's responses, oldest first, with the author's name."""
    return conn.execute(
        "SELECT r.*, u.name AS author FROM responses r LEFT JOIN users u ON u.id = r.user_id "
        "WHERE r.item_id = ? ORDER BY r.id", (item_id,)).fetchall()
