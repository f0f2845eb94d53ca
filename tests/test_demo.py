"""The demo command: a demo user, a paid archive with real photos plus near-duplicates, a free archive."""
from zeuge_lite import queries
from zeuge_lite.demo import DEMO_EMAIL, NEAR_DUPLICATES, PHOTOS_DIR


def test_demo_creates_user_paid_and_free_archives_once(runner, conn):
    first = runner.invoke(args=["zeuge", "demo"])
    assert "Demo ready" in first.output, first.output
    user = queries.user_by_email(conn, DEMO_EMAIL)
    archives = {a["plan"]: a for a in queries.archives_of_user(conn, user["id"])}
    assert set(archives) == {"pro", "free"} and user["is_admin"]  # the first account: the administrator
    paid_batch = queries.batches_of_archive(conn, archives["pro"]["id"])[0]
    shipped = [p for p in PHOTOS_DIR.iterdir() if p.suffix in (".png", ".jpg")]
    assert paid_batch["item_count"] == len(shipped) + len(NEAR_DUPLICATES)
    assert "exists already" in runner.invoke(args=["zeuge", "demo"]).output
    assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 1
