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


def test_views_migration_clears_features_and_results_of_the_four_turn_layout(tmp_path):
    old = connect(tmp_path / "v4.sqlite3")
    for version, script in enumerate(MIGRATIONS[:4], start=1):
        old.executescript(f"BEGIN; {script}; PRAGMA user_version={version}; COMMIT;")
    old.executescript("""
        INSERT INTO files (sha256, size, ext, format, mode, width, height) VALUES ('a', 1, 'jpg', 'JPEG', 'RGB', 1, 1);
        INSERT INTO features (sha256, model, hashes, turns) VALUES ('a', 'efficientnet-lite0', x'00', x'00');
        CREATE VIRTUAL TABLE vec_efficientnet_lite0 USING vec0(embedding float[2], coarse bit[512]);
        INSERT INTO archives (name, plan) VALUES ('A', 'pro');
        INSERT INTO batches (archive_id, name) VALUES (1, 'B');
        INSERT INTO runs (batch_id, model, status) VALUES (1, 'efficientnet-lite0', 'done');
    """)
    migrate(old)
    assert old.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert [old.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("features", "runs")] == [0, 0]
    assert "views" in [row[1] for row in old.execute("PRAGMA table_info(features)")]
    assert old.execute("SELECT count(*) FROM sqlite_master WHERE name = 'vec_efficientnet_lite0'").fetchone()[0] == 0


def test_pooled_connections_are_reused_by_kind_and_never_handed_on_mid_transaction(tmp_path):
    import pytest

    from zeuge_lite.db import ConnectionPool, sqlite
    pool = ConnectionPool(str(tmp_path / "pool.sqlite3"), keep=1)
    migrate(connect(tmp_path / "pool.sqlite3"))
    reader = pool.take(read_only=True)
    with pytest.raises(sqlite.OperationalError, match="readonly"):
        reader.execute("INSERT INTO archives (name) VALUES ('x')")
    pool.give_back(reader, read_only=True)
    assert pool.take(read_only=True) is reader
    writer = pool.take(read_only=False)
    assert writer is not reader
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO archives (name) VALUES ('half done')")
    pool.give_back(writer, read_only=False)  # an error left it mid-transaction: closed, not kept
    fresh = pool.take(read_only=False)
    assert fresh is not writer and fresh.execute("SELECT count(*) FROM archives").fetchone()[0] == 0
    fresh.execute("INSERT INTO archives (name) VALUES ('kept')")
    pool.give_back(fresh, read_only=False)
    pool.give_back(pool.take(read_only=False), read_only=False)
    assert pool.take(read_only=False) is fresh
