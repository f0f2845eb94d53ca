"""Register, log in, log out, change password, CSRF."""
import pytest

from tests.conftest import PASSWORD
from zeuge_lite import create_app


def test_register_creates_user_and_own_free_archive_and_logs_in(client, conn):
    response = client.post("/register", data={"email": "a@x.org", "name": "Ada", "password": "long enough"})
    assert response.status_code == 302
    home = client.get("/", follow_redirects=True)
    assert b"Ada&#39;s archive" in home.data and b"Free plan" in home.data
    assert conn.execute("SELECT role FROM memberships").fetchone()[0] == "owner"


@pytest.mark.parametrize("form, message", [
    ({"email": "nope", "name": "A", "password": "long enough"}, b"valid e-mail"),
    ({"email": "a@x.org", "name": "A", "password": "short"}, b"at least 8"),
    ({"email": "a@x.org", "name": "", "password": "long enough"}, b"Enter your name"),
])
def test_register_refuses_bad_input(client, form, message):
    response = client.post("/register", data=form)
    assert response.status_code == 422 and message in response.data


def test_register_refuses_a_taken_email(client, world):
    world.user("taken@x.org")
    response = client.post("/register", data={"email": "TAKEN@x.org", "name": "B", "password": "long enough"})
    assert response.status_code == 422 and b"exists already" in response.data


def test_login_wrong_password_then_right_then_logout(client, world):
    world.user("u@x.org")
    assert client.post("/login", data={"email": "u@x.org", "password": "wrong"}).status_code == 401
    assert world.login("u@x.org").status_code == 302
    assert client.get("/", follow_redirects=True).status_code == 200
    world.logout()
    assert client.get("/").headers["Location"].startswith("/login")


def test_login_does_not_redirect_off_site(client, world):
    world.user("u@x.org")
    response = client.post("/login?next=//evil.example/", data={"email": "u@x.org", "password": PASSWORD})
    assert response.headers["Location"] == "/"


def test_change_password(client, world):
    world.user("u@x.org")
    world.login("u@x.org")
    bad = client.post("/account/password", data={"current_password": "wrong", "new_password": "new password"})
    assert bad.status_code == 422
    ok = client.post("/account/password", data={"current_password": PASSWORD, "new_password": "new password"})
    assert ok.status_code == 302
    world.logout()
    assert client.post("/login", data={"email": "u@x.org", "password": "new password"}).status_code == 302


def test_writes_without_csrf_token_are_refused(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp_path / "db.sqlite3"),
                      "STORAGE_DIR": str(tmp_path / "s")})
    client = app.test_client()
    response = client.post("/register", data={"email": "a@x.org", "name": "A", "password": "long enough"})
    assert response.status_code == 400 and b"CSRF" in response.data
    page = client.get("/register").data.decode()
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    ok = client.post("/register", data={"email": "a@x.org", "name": "A", "password": "long enough",
                                        "csrf_token": token})
    assert ok.status_code == 302
    header_ok = client.post("/logout", headers={"X-CSRFToken": token})
    assert header_ok.status_code == 302


def test_owner_adds_changes_and_removes_members_and_keeps_an_owner(client, world, conn):
    from zeuge_lite import queries
    _owner, archive = world.user("owner@x.org")
    colleague, _own = world.user("colleague@x.org", name="Colleague")
    world.login("owner@x.org")
    client.post(f"/archives/{archive}/members", data={"email": "colleague@x.org", "role": "viewer"})
    assert queries.archive_for_member(conn, archive, colleague)["role"] == "viewer"
    client.post(f"/archives/{archive}/members", data={"email": "colleague@x.org", "role": "archivist"})
    assert queries.archive_for_member(conn, archive, colleague)["role"] == "archivist"
    unknown = client.post(f"/archives/{archive}/members", data={"email": "nobody@x.org", "role": "viewer"},
                          follow_redirects=True)
    assert b"register first" in unknown.data
    owner_id = queries.user_by_email(conn, "owner@x.org")["id"]
    demote = client.post(f"/archives/{archive}/members", data={"email": "owner@x.org", "role": "viewer"},
                         follow_redirects=True)
    assert b"at least one owner" in demote.data and queries.owner_count(conn, archive) == 1
    client.post(f"/archives/{archive}/members/{colleague}/remove")
    assert queries.archive_for_member(conn, archive, colleague) is None
    world.logout()
    world.login("colleague@x.org")
    assert client.get(f"/archives/{archive}").status_code == 404
    assert owner_id


def test_only_owners_manage_members(client, world, conn):
    from zeuge_lite import queries
    _owner, archive = world.user("owner@x.org")
    helper, _own = world.user("helper@x.org")
    queries.add_member(conn, archive, helper, "archivist")
    world.login("helper@x.org")
    response = client.post(f"/archives/{archive}/members", data={"email": "helper@x.org", "role": "owner"})
    assert response.status_code == 403 and queries.owner_count(conn, archive) == 1
    assert b"Members" not in client.get(f"/archives/{archive}").data


def test_archive_page_title_is_plain_text(client, world):
    _owner, archive = world.user("t@x.org")
    world.login("t@x.org")
    page = client.get(f"/archives/{archive}").data.decode()
    title = page.split("<title>")[1].split("</title>")[0]
    assert "<" not in title and "t@x.org archive" in title
    assert page.count('id="members"') == 1
