"""Instance administrators (issue 9 §5): the first account and `flask zeuge admin`, the admin page (admins only,
read-only on GET), plan changes and upgrade requests, every change in the archive's audit log."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zeuge_lite import queries
from zeuge_lite import queries_review as qr
from zeuge_lite.db import connect, migrate
from zeuge_lite.schema import ADMINS, MIGRATIONS

ROOT = Path(__file__).resolve().parents[1]
STRONG = "tulip ladder orbit 42"


def _is_admin(conn, email):
    return bool(queries.user_by_email(conn, email)["is_admin"])


@pytest.fixture
def instance(world, conn):
    """An administrator ("Ada Admin") and an archivist's free archive with one batch; nobody logged in."""
    world.user("admin@x.org", name="Ada Admin")
    archivist, archive = world.user("arch@x.org", plan="free", name="Archie")
    return {"archive": archive, "batch": world.batch(archive), "archivist": archivist}


def _entries(conn, archive):
    return [(e["action"], e["detail"]) for e in reversed(qr.audit_entries(conn, archive))]


def test_the_first_registered_account_is_the_administrator_and_the_next_is_not(client, conn):
    for email in ("first@x.org", "second@x.org"):
        client.post("/register", data={"email": email, "name": "N", "password": STRONG})
    assert _is_admin(conn, "first@x.org") and not _is_admin(conn, "second@x.org")


def test_on_an_existing_instance_the_first_account_becomes_administrator(tmp_path):
    old = connect(tmp_path / "old.sqlite3")
    for version, script in enumerate(MIGRATIONS[:MIGRATIONS.index(ADMINS)], start=1):
        old.executescript(f"BEGIN; {script}; PRAGMA user_version={version}; COMMIT;")
    old.executescript("INSERT INTO users (email, name, password_hash) VALUES ('a@x.org', 'A', 'h'), "
                      "('b@x.org', 'B', 'h');")
    migrate(old)
    assert [r[0] for r in old.execute("SELECT is_admin FROM users ORDER BY id")] == [1, 0]


def test_admin_pages_answer_403_to_everyone_else(app, client, world, instance, conn):
    world.login("arch@x.org")
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.")]
    assert {r.endpoint for r in rules} == {"admin.page", "admin.set_plan", "admin.decide"}
    client.post(f"/archives/{instance['archive']}/upgrade-request")
    request_id = conn.execute("SELECT id FROM upgrade_requests").fetchone()[0]
    for url, method in (("/admin", "GET"), (f"/admin/archives/{instance['archive']}/plan", "POST"),
                        (f"/admin/requests/{request_id}/grant", "POST"),
                        (f"/admin/requests/{request_id}/decline", "POST")):
        assert client.open(url, method=method, data={"plan": "pro"}).status_code == 403, url
    assert queries.archive_by_id(conn, instance["archive"])["plan"] == "free"
    assert conn.execute("SELECT status FROM upgrade_requests").fetchone()[0] == "pending"
    assert b'href="/admin"' not in client.get("/plans").data
    world.logout()
    assert client.get("/admin").headers["Location"].startswith("/login")


def test_the_admin_page_lists_every_archive_with_plan_owners_and_items(client, world, instance, make_image):
    world.login("arch@x.org")
    world.upload(instance["batch"], ("a.png", make_image("PNG")), ("b.png", make_image("PNG", color=(1, 2, 3))))
    world.logout()
    world.login("admin@x.org")
    page = client.get("/admin").data.decode()
    assert 'href="/admin"' in page  # the admin's navigation has the page
    row = page[page.index(f'id="archive-{instance["archive"]}"'):]
    row = row[:row.index("</tr>")]
    assert "arch@x.org archive" in row and "Archie" in row and 'data-label="Items">2<' in row
    assert 'value="free" selected' in row and f'<label class="visually-hidden" for="plan-{instance["archive"]}">' in row
    assert '<table class="table stack admin-archives">' in page and "No request is waiting" in page


def test_an_admin_changes_a_plan_and_the_log_says_so(client, world, conn, instance):
    world.login("admin@x.org")
    assert client.get(f"/admin/archives/{instance['archive']}/plan").status_code == 405  # GET changes nothing
    client.post(f"/admin/archives/{instance['archive']}/plan", data={"plan": "pro"})
    assert queries.archive_by_id(conn, instance["archive"])["plan"] == "pro"
    entry = qr.audit_entries(conn, instance["archive"])[0]
    assert (entry["action"], entry["detail"]) == ("plan", "changed the plan from Free to Pro")
    assert entry["user_id"] == queries.user_by_email(conn, "admin@x.org")["id"]
    bad = client.post(f"/admin/archives/{instance['archive']}/plan", data={"plan": "gold"}, follow_redirects=True)
    assert "no plan called" in bad.data.decode() and queries.archive_by_id(conn, instance["archive"])["plan"] == "pro"


def test_the_prompt_names_the_admins_and_sends_one_request_that_an_admin_grants(client, world, conn, instance):
    world.login("arch@x.org")
    tab = f"/batches/{instance['batch']}/similarity"
    prompt = client.get(tab).data.decode()
    assert 'href="mailto:admin@x.org">Ada Admin</a>' in prompt and "Ask for the Pro plan" in prompt
    assert '<label for="upgrade-note">' in prompt and f'name="next" value="{tab}"' in prompt
    sent = client.post(f"/archives/{instance['archive']}/upgrade-request", data={"note": "Box 12 has copies",
                                                                                 "next": tab})
    assert sent.status_code == 303 and sent.headers["Location"] == tab
    again = client.post(f"/archives/{instance['archive']}/upgrade-request", data={"next": tab}, follow_redirects=True)
    assert "already waiting for an administrator (sent by Archie" in again.data.decode()
    assert "Ask for the Pro plan" not in again.data.decode() and "waiting for an administrator" in again.data.decode()
    assert conn.execute("SELECT count(*) FROM upgrade_requests").fetchone()[0] == 1
    world.logout()
    world.login("admin@x.org")
    admin_page = client.get("/admin").data.decode()
    assert "Box 12 has copies" in admin_page and "Archie" in admin_page and "request waiting" in admin_page
    request_id = conn.execute("SELECT id FROM upgrade_requests").fetchone()[0]
    client.post(f"/admin/requests/{request_id}/grant")
    assert queries.archive_by_id(conn, instance["archive"])["plan"] == "pro"
    assert _entries(conn, instance["archive"]) == [
        ("upgrade request", "asked the administrators for the Pro plan"),
        ("upgrade granted", "granted the request of Archie: the plan changed from Free to Pro")]
    assert "That request is not waiting" in client.post(f"/admin/requests/{request_id}/decline",
                                                        follow_redirects=True).data.decode()
    world.logout()
    world.login("arch@x.org")
    page = client.get(tab).data.decode()
    assert "upgrade-prompt" not in page and "similarity-panel" in page


def test_a_declined_request_leaves_the_plan_and_may_be_sent_again(client, world, conn, instance):
    world.login("arch@x.org")
    client.post(f"/archives/{instance['archive']}/upgrade-request")
    world.logout()
    world.login("admin@x.org")
    client.post(f"/admin/requests/{conn.execute('SELECT id FROM upgrade_requests').fetchone()[0]}/decline")
    assert queries.archive_by_id(conn, instance["archive"])["plan"] == "free"
    assert _entries(conn, instance["archive"])[-1] == ("upgrade declined",
                                                       "declined the request of Archie for the Pro plan")
    world.logout()
    world.login("arch@x.org")
    client.post(f"/archives/{instance['archive']}/upgrade-request")
    assert conn.execute("SELECT count(*) FROM upgrade_requests WHERE status = 'pending'").fetchone()[0] == 1


def test_changing_the_plan_directly_grants_the_waiting_request(client, world, conn, instance):
    world.login("arch@x.org")
    client.post(f"/archives/{instance['archive']}/upgrade-request")
    world.logout()
    world.login("admin@x.org")
    client.post(f"/admin/archives/{instance['archive']}/plan", data={"plan": "pro"})
    assert conn.execute("SELECT status FROM upgrade_requests").fetchone()[0] == "granted"
    assert _entries(conn, instance["archive"])[-1][1] == ("changed the plan from Free to Pro "
                                                          "(granting the request of Archie)")


def test_a_viewer_cannot_ask_and_a_pro_archive_need_not(client, world, conn, instance):
    viewer, _own = world.user("viewer@x.org", name="Vera")
    queries.add_member(conn, instance["archive"], viewer, "viewer")
    world.login("viewer@x.org")
    prompt = client.get(f"/batches/{instance['batch']}/similarity").data.decode()
    assert "Ask an owner or archivist" in prompt and "Ask for the Pro plan" not in prompt
    assert client.post(f"/archives/{instance['archive']}/upgrade-request").status_code == 403
    world.logout()
    world.login("admin@x.org")
    own_pro = queries.archives_of_user(conn, queries.user_by_email(conn, "admin@x.org")["id"])[0]["id"]
    answer = client.post(f"/archives/{own_pro}/upgrade-request", follow_redirects=True).data.decode()
    assert "on the Pro plan already" in answer
    assert conn.execute("SELECT count(*) FROM upgrade_requests").fetchone()[0] == 0


def test_without_an_administrator_there_is_no_one_to_ask(client, world, conn, instance):
    conn.execute("UPDATE users SET is_admin = 0")
    world.login("arch@x.org")
    prompt = client.get(f"/batches/{instance['batch']}/similarity").data.decode()
    assert "no administrator yet" in prompt and "Ask for the Pro plan" not in prompt
    answer = client.post(f"/archives/{instance['archive']}/upgrade-request", follow_redirects=True).data.decode()
    assert "no administrator to ask" in answer
    assert conn.execute("SELECT count(*) FROM upgrade_requests").fetchone()[0] == 0


def test_a_refused_htmx_fragment_carries_the_prompt_and_comes_back_to_its_page(client, world, instance):
    world.login("arch@x.org")
    page = f"/batches/{instance['batch']}/similarity?level=near"
    response = client.get(f"/batches/{instance['batch']}/similarity/groups",
                          headers={"HX-Request": "true", "HX-Current-URL": f"http://localhost{page}"})
    assert response.status_code == 402
    body = response.data.decode()
    assert "Ada Admin" in body and f'name="next" value="{page}"' in body
    assert f'action="/archives/{instance["archive"]}/upgrade-request"' in body


def test_admin_and_upgrade_posts_need_the_csrf_token(app, client, world, conn, instance):
    world.login("arch@x.org")
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post(f"/archives/{instance['archive']}/upgrade-request").status_code == 400
    assert conn.execute("SELECT count(*) FROM upgrade_requests").fetchone()[0] == 0
    app.config["WTF_CSRF_ENABLED"] = False
    client.post(f"/archives/{instance['archive']}/upgrade-request")
    world.logout()
    world.login("admin@x.org")
    app.config["WTF_CSRF_ENABLED"] = True
    request_id = conn.execute("SELECT id FROM upgrade_requests").fetchone()[0]
    for url in (f"/admin/archives/{instance['archive']}/plan", f"/admin/requests/{request_id}/grant"):
        assert client.post(url, data={"plan": "pro"}).status_code == 400, url
    assert queries.archive_by_id(conn, instance["archive"])["plan"] == "free"


def test_the_plans_page_says_what_each_plan_is_on_a_self_hosted_instance(client, world, instance):
    world.login("arch@x.org")
    page = client.get("/plans").data.decode()
    assert "per month" not in page and "nothing is bought or paid here" in page
    assert 'href="mailto:admin@x.org">Ada Admin</a>' in page and "Visual similarity analysis" in page


def _flask(env, *args):
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", "zeuge", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_flask_zeuge_admin_makes_and_removes_an_administrator(tmp_path, conn, world, instance, app):
    env = dict(os.environ, PYTHONPATH=str(ROOT), ZEUGE_DATABASE=app.config["DATABASE"],
               ZEUGE_STORAGE_DIR=str(tmp_path / "storage"), ZEUGE_SECRET_KEY="cli-test-" + "k" * 32)
    unknown = _flask(env, "admin", "nobody@x.org")
    assert unknown.returncode != 0 and "No account uses the e-mail address “nobody@x.org”" in unknown.stderr
    made = _flask(env, "admin", "ARCH@x.org")
    assert made.returncode == 0 and "Archie (arch@x.org) is now an administrator" in made.stdout
    assert _is_admin(conn, "arch@x.org")
    removed = _flask(env, "admin", "arch@x.org", "--remove")
    assert removed.returncode == 0 and "no longer an administrator" in removed.stdout
    assert not _is_admin(conn, "arch@x.org") and _is_admin(conn, "admin@x.org")
    listed = _flask(env, "admin")
    assert listed.returncode == 0 and "Administrators: Ada Admin (admin@x.org)" in listed.stdout
    last = _flask(env, "admin", "admin@x.org", "--remove")
    assert "no administrator now" in last.stdout


def test_the_plan_command_is_audited(runner, conn, instance):
    runner.invoke(args=["zeuge", "plan", str(instance["archive"]), "pro"])
    entry = qr.audit_entries(conn, instance["archive"])[0]
    assert (entry["user_id"], entry["detail"]) == (None, "changed the plan on the command line from Free to Pro")


def test_a_plan_change_and_its_audit_entry_commit_together(conn, instance, monkeypatch):
    from zeuge_lite import admin

    def broken_log(*_args, **_kwargs):
        raise RuntimeError("the log could not be written")
    monkeypatch.setattr(qr, "log_action", broken_log)
    with pytest.raises(RuntimeError):
        admin.change_plan(conn, instance["archive"], "pro", None)
    archive = queries.archive_by_id(conn, instance["archive"])
    with pytest.raises(RuntimeError):
        admin.request_upgrade(conn, archive, instance["archivist"])
    assert archive["plan"] == queries.archive_by_id(conn, instance["archive"])["plan"] == "free"
    assert conn.execute("SELECT count(*) FROM upgrade_requests").fetchone()[0] == 0
