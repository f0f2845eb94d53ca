"""All SQL of the review screen: dismissals ("not duplicates") and the audit log. No Flask here."""
import json


def dismiss_pairs(conn, archive_id, sha_pairs, user_id):
    """Remember that these content pairs are not duplicates (stored by content hash, sorted)."""
    conn.executemany("INSERT OR IGNORE INTO dismissals (archive_id, sha_a, sha_b, created_by) VALUES (?, ?, ?, ?)",
                     [(archive_id, *sorted(pair), user_id) for pair in sha_pairs if pair[0] != pair[1]])


def undo_dismissal(conn, archive_id, sha_a, sha_b):
    """Forget one "not duplicates" decision."""
    conn.execute("DELETE FROM dismissals WHERE archive_id = ? AND sha_a = ? AND sha_b = ?",
                 (archive_id, *sorted((sha_a, sha_b))))


def dismissed_pairs(conn, archive_id):
    """The set of dismissed (sha_a, sha_b) pairs of an archive."""
    return {(row[0], row[1]) for row in conn.execute(
        "SELECT sha_a, sha_b FROM dismissals WHERE archive_id = ?", (archive_id,))}


def dismissals_in_batch(conn, archive_id, batch_id):
    """Dismissed pairs whose both contents are in the batch, with one file name for each side."""
    return conn.execute(
        "SELECT d.sha_a, d.sha_b, d.created_at, u.name AS by_name, "
        "(SELECT filename FROM items WHERE batch_id = ? AND sha256 = d.sha_a LIMIT 1) AS name_a, "
        "(SELECT filename FROM items WHERE batch_id = ? AND sha256 = d.sha_b LIMIT 1) AS name_b "
        "FROM dismissals d LEFT JOIN users u ON u.id = d.created_by WHERE d.archive_id = ? "
        "AND EXISTS (SELECT 1 FROM items WHERE batch_id = ? AND sha256 = d.sha_a) "
        "AND EXISTS (SELECT 1 FROM items WHERE batch_id = ? AND sha256 = d.sha_b) ORDER BY d.created_at DESC",
        (batch_id, batch_id, archive_id, batch_id, batch_id)).fetchall()


def log_action(conn, archive_id, batch_id, user_id, action, detail, item_ids, group_key=None, undo=None):
    """Write one audit entry: who did what to which items, from which group, and what would undo it."""
    conn.execute("INSERT INTO audit_log (archive_id, batch_id, user_id, action, detail, items, group_key, undo) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (archive_id, batch_id, user_id, action, detail, json.dumps(list(item_ids)), group_key,
                  json.dumps(undo) if undo else None))


def audit_entry(conn, archive_id, entry_id):
    """One audit entry of an archive, or None."""
    return conn.execute("SELECT * FROM audit_log WHERE archive_id = ? AND id = ?", (archive_id, entry_id)).fetchone()


def mark_undone(conn, entry_id):
    """Record that an entry's change was undone (it cannot be undone twice)."""
    conn.execute("UPDATE audit_log SET undone_at = datetime('now') WHERE id = ?", (entry_id,))


def audit_entries(conn, archive_id, limit=500):
    """An archive's newest audit entries with the user's name."""
    return conn.execute("SELECT a.*, u.name AS user_name FROM audit_log a LEFT JOIN users u ON u.id = a.user_id "
                        "WHERE a.archive_id = ? ORDER BY a.id DESC LIMIT ?", (archive_id, limit)).fetchall()
