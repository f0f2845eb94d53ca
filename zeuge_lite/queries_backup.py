"""All SQL of backup, restore and check: what is stored, what the database holds, its own checks. No Flask."""
import json

# Tables whose row counts a backup's manifest records (fixed names, never user input).
COUNTED_TABLES = ("users", "archives", "memberships", "batches", "items", "files", "responses", "features",
                  "runs", "pairs", "item_scores", "dismissals", "audit_log")
# A database holding a row in any of these is an archive's data, not a fresh install.
DATA_TABLES = ("users", "archives", "batches", "items", "files")


def stored_files(conn):
    """Every stored content (sha256, ext, size): the originals the database needs on disk."""
    return conn.execute("SELECT sha256, ext, size FROM files ORDER BY sha256").fetchall()


def still_stored(conn, sha256s):
    """The subset of these content hashes that the database still holds."""
    return {row[0] for row in conn.execute(
        "SELECT sha256 FROM files WHERE sha256 IN (SELECT value FROM json_each(?))", (_json(sha256s),))}


def items_with_content(conn, sha256s):
    """Items (id, batch, file name, sha256) that show any of these contents."""
    return conn.execute(
        "SELECT id, batch_id, filename, sha256 FROM items WHERE sha256 IN (SELECT value FROM json_each(?)) "
        "ORDER BY batch_id, position, id", (_json(sha256s),)).fetchall()


def existing_tables(conn):
    """Names of the database's ordinary tables."""
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def table_counts(conn):
    """Row counts of the counted tables this database has."""
    present = existing_tables(conn)
    return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in COUNTED_TABLES if table in present}


def holds_data(conn):
    """True if the database holds any user, archive, batch, item or file."""
    present = existing_tables(conn)
    return any(conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() for table in DATA_TABLES
               if table in present)


def schema_version(conn):
    """The database's schema version (PRAGMA user_version)."""
    return conn.execute("PRAGMA user_version").fetchone()[0]


def integrity_problems(conn, quick=False):
    """SQLite's own integrity check as messages; empty when the file is sound."""
    pragma = "quick_check" if quick else "integrity_check"
    return [row[0] for row in conn.execute(f"PRAGMA {pragma}") if row[0] != "ok"]


def foreign_key_problems(conn):
    """Rows that point at a parent row that does not exist, as messages."""
    return [f"{row[0]} row {row[1]} points at a missing {row[2]} row"
            for row in conn.execute("PRAGMA foreign_key_check")]


def fail_active_runs(conn, reason):
    """Mark queued and running runs failed: a restored database has no job queue behind them."""
    return conn.execute("UPDATE runs SET status = 'failed', error = ?, finished_at = datetime('now') "
                        "WHERE status IN ('queued', 'running')", (reason,)).rowcount


def _json(values):
    return json.dumps(sorted(values))
