"""SQLite connection (WAL, foreign keys, sqlite-vec) and schema migrations by PRAGMA user_version."""
import contextlib
from pathlib import Path
import sqlite3 as _stdlib_sqlite3

import click
from flask import current_app, g, has_request_context, request
from flask.cli import with_appcontext

from zeuge_lite.schema import MIGRATIONS


class ExtensionLoadingUnavailable(RuntimeError):
    """This Python's sqlite3 cannot load extensions, so sqlite-vec cannot run."""


def _sqlite_module():
    """Return a DB-API sqlite module that can load extensions (stdlib first, then pysqlite3)."""
    if hasattr(_stdlib_sqlite3.Connection, "enable_load_extension"):
        return _stdlib_sqlite3
    try:
        import pysqlite3.dbapi2 as pysqlite3  # built with extension loading on Linux wheels
    except ImportError:
        raise ExtensionLoadingUnavailable(
            "This Python's sqlite3 module was built without extension loading, and pysqlite3 is not "
            "installed, so sqlite-vec cannot be loaded. Install the requirements "
            "(`pip install -r requirements.txt`, which brings pysqlite3-binary) or use a Python "
            "built with --enable-loadable-sqlite-extensions."
        ) from None
    return pysqlite3


sqlite = _sqlite_module()
IntegrityError = sqlite.IntegrityError


def connect(path, timeout_s=30.0):
    """Open the database with Row factory, WAL, foreign keys, busy timeout and sqlite-vec loaded."""
    import sqlite_vec

    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite.connect(str(path), timeout=timeout_s, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.enable_load_extension(True)
    sqlite_vec.load(conn)
    conn.enable_load_extension(False)
    return conn


@contextlib.contextmanager
def transaction(conn):
    """Run a block in one write transaction: commit on success, roll back and re-raise on error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(conn):
    """Apply every migration newer than the database's user_version, in one write transaction.

    The version is read inside the transaction: processes starting together (web workers, the worker) wait
    for each other and the later ones find nothing left to do."""
    with transaction(conn):
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        for script in MIGRATIONS[current:]:
            for statement in _statements(script):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version={max(current, len(MIGRATIONS))}")
    return len(MIGRATIONS)


def _statements(script):
    """Split a migration script into whole statements (triggers keep their inner semicolons)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return [statement for statement in statements if statement.rstrip(";").strip()]


_migrated = set()


def get_db():
    """The request's connection, opened on first use; the schema is brought up to date once per process.

    GET and HEAD requests get a read-only connection: a page view never waits for the write lock (a worker
    or an upload may hold it), and a write slipped into one fails loudly instead of stalling the site."""
    if "db" not in g:
        path = current_app.config["DATABASE"]
        g.db = connect(path)
        if path not in _migrated:
            migrate(g.db)
            _migrated.add(path)
        if has_request_context() and request.method in ("GET", "HEAD"):
            g.db.execute("PRAGMA query_only = ON")
    return g.db


def close_db(_exc=None):
    """Close the request's connection, if one was opened."""
    db = g.pop("db", None)
    if db is not None:
        db.close()


def check_extension_loading():
    """Fail early, with a clear message, if sqlite-vec cannot be loaded here."""
    conn = connect(":memory:")
    try:
        conn.execute("SELECT vec_version()").fetchone()
    finally:
        conn.close()


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create or upgrade the database schema."""
    conn = connect(current_app.config["DATABASE"])
    version = migrate(conn)
    conn.close()
    click.echo(f"Database ready at schema version {version}: {current_app.config['DATABASE']}")


def init_app(app):
    """Check sqlite-vec can load, register teardown and the init-db command (no file is created here)."""
    check_extension_loading()
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
