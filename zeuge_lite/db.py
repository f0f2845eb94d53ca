"""SQLite connection (WAL, foreign keys, sqlite-vec) and schema migrations by PRAGMA user_version."""
import contextlib
import threading
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


class ConnectionPool:
    """Idle connections of one app, kept for the next request (opening one, with sqlite-vec, costs ~1.5 ms):
    read-only ones for GET and HEAD, writable ones for the rest."""

    def __init__(self, path, keep=16):
        self.path, self.keep = path, keep
        self._idle = {True: [], False: []}
        self._lock = threading.Lock()

    def take(self, read_only):
        """An idle connection of that kind, or a new one."""
        with self._lock:
            if self._idle[read_only]:
                return self._idle[read_only].pop()
        conn = connect(self.path)
        if read_only:
            conn.execute("PRAGMA query_only = ON")
        return conn

    def give_back(self, conn, read_only):
        """Keep a connection for later, unless it is mid-transaction (an error) or enough are kept."""
        if conn.in_transaction:
            conn.close()
            return
        with self._lock:
            if len(self._idle[read_only]) < self.keep:
                self._idle[read_only].append(conn)
                return
        conn.close()


def get_db():
    """The request's connection, taken from the app's pool on first use; the schema is brought up to date
    once per process.

    GET and HEAD requests get a read-only connection: a page view never waits for the write lock (a worker
    or an upload may hold it), and a write slipped into one fails loudly instead of stalling the site."""
    if "db" not in g:
        path = current_app.config["DATABASE"]
        if path not in _migrated:
            with contextlib.closing(connect(path)) as conn:
                migrate(conn)
            _migrated.add(path)
        read_only = has_request_context() and request.method in ("GET", "HEAD")
        g.db, g.db_read_only = _pool().take(read_only), read_only
    return g.db


def _pool():
    pools = current_app.extensions.setdefault("db_pools", {})
    path = current_app.config["DATABASE"]
    if path not in pools:
        pools[path] = ConnectionPool(path)
    return pools[path]


def close_db(_exc=None):
    """Give the request's connection back to the pool, if one was taken."""
    db = g.pop("db", None)
    if db is not None:
        _pool().give_back(db, g.pop("db_read_only", False))


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
