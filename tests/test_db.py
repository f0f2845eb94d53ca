"""The database: pragmas, sqlite-vec, migrations, init-db."""
from zeuge_lite.db import connect, migrate
from zeuge_lite.schema import MIGRATIONS


def test_connection_has_wal_foreign_keys_and_sqlite_vec(conn):
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert conn.execute("SELECT vec_version()").fetchone()[0].startswith("v")


def test_schema_is_at_latest_version_and_migrate_is_idempotent(conn):
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_init_db_command_creates_a_fresh_database(app, runner, tmp_path):
    app.config["DATABASE"] = str(tmp_path / "fresh.sqlite3")
    result = runner.invoke(args=["init-db"])
    assert "schema version" in result.output
    fresh = connect(tmp_path / "fresh.sqlite3")
    assert fresh.execute("SELECT count(*) FROM sqlite_master WHERE name = 'items'").fetchone()[0] == 1
