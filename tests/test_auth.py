"""Register, log in, log out (here and everywhere), change password, sessions, throttling, CSRF."""
import re

import pytest

from tests.conftest import PASSWORD
from zeuge_lite import create_app

STRONG = "tulip ladder orbit 42"
ACCOUNT = "/account/password"  # 200 when logged in, a redirect to the login page when not


def test_register_creates_user_and_own_free_archive_then_login(client, conn):
    response = client.post("/register", data={"email": "a@x.org", "name": "Ada", "password": STRONG})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.post("/login", data={"email": "a@x.org", "password": STRONG}).status_code == 303
    home = client.get("/", follow_redirects=True)
    assert b"Ada&#39;s archive" in home.data and b"Free plan" in home.data
    assert conn.execute("SELECT role FROM memberships").fetchone()[0] == "owner"


@pytest.mark.parametrize("form, message", [
    ({"email": "nope", "name": "A", "password": STRONG}, b"valid e-mail"),
    ({"email": "a@x.org", "name": "A", "password": "short"}, b"at least 12"),
    ({"email": "a@x.org", "name": "A", "password": "password1234"}, b"harder password"),
    ({"email": "a@x.org", "name": "A", "password": "qwertyuiop12"}, b"harder password"),
    ({"email": "ada.lovelace@x.org", "name": "Ada Lovelace", "password": "ada.lovelace@x.org"}, b"harder password"),
    ({"email": "a@x.org", "name": "", "password": STRONG}, b"Enter your name"),
])
def test_register_refuses_bad_input(client, form, message):
    response = client.post("/register", data=form)
    assert response.status_code == 422 and message in response.data


def _without_csrf(page):
    """A page without its CSRF tokens: they carry the second they were made in, so two pages differ there."""
    return re.sub(rb'(csrf-token" content="|X-CSRFToken": "|name="csrf_token" value=")[^"]+', rb"\1", page)


def test_registering_a_taken_email_looks_like_a_new_one_and_changes_nothing(client, world, conn):
    world.user("taken@x.org")
    taken = client.post("/register", data={"email": "TAKEN@x.org", "name": "B", "password": STRONG},
                        follow_redirects=True)
    new = client.post("/register", data={"email": "new@x.org", "name": "B", "password": STRONG},
                      follow_redirects=True)
    assert taken.status_code == new.status_code == 200
    assert _without_csrf(taken.data.replace(b"TAKEN@x.org", b"")) == _without_csrf(new.data.replace(b"new@x.org", b""))
    assert world.login("taken@x.org").status_code == 303  # the old password still works
    assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 2


def test_login_wrong_password_then_right_then_logout(client, world):
    world.user("u@x.org")
    wrong = client.post("/login", data={"email": "u@x.org", "password": "wrong"})
    unknown = client.post("/login", data={"email": "nobody@x.org", "password": "wrong"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.data.replace(b"u@x.org", b"") == unknown.data.replace(b"nobody@x.org", b"")
    assert world.login("u@x.org").status_code == 303
    assert client.get("/", follow_redirects=True).status_code == 200
    world.logout()
    assert client.get("/").headers["Location"].startswith("/login")


def test_unknown_email_costs_a_password_check_like_a_wrong_password(tmp_path, monkeypatch):
    """The unknown-e-mail path runs the same password check (counted, not timed: timing lives in benchmarks)."""
    import zeuge_lite.auth as auth
    app = create_app({"TESTING": True, "DATABASE": str(tmp_path / "db.sqlite3"), "SECRET_KEY": "t",
                      "STORAGE_DIR": str(tmp_path / "s"), "WTF_CSRF_ENABLED": False,
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    checked = []
    real_check = auth.check_password_hash
    monkeypatch.setattr(auth, "check_password_hash", lambda stored, given: checked.append(stored) or
                        real_check(stored, given))
    client = app.test_client()
    assert client.post("/login", data={"email": "nobody@x.org", "password": "x"}).status_code == 401
    assert len(checked) == 1 and checked[0].startswith("pbkdf2:sha256:1000$")


@pytest.mark.parametrize("target", ["//evil.example/", "/%09/evil.example", "/\t/evil.example", "/\\evil.example",
                                    "https://evil.example/", "/ok%0d%0aSet-Cookie:x=1", "javascript:alert(1)"])
def test_login_does_not_redirect_off_site(client, world, target):
    world.user("u@x.org")
    response = client.post(f"/login?next={target}", data={"email": "u@x.org", "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_login_follows_a_local_next(client, world):
    world.user("u@x.org")
    response = client.post("/login?next=/batches/3", data={"email": "u@x.org", "password": PASSWORD})
    assert response.headers["Location"] == "/batches/3"


def _session_cookie(client):
    cookie = client.get_cookie("session")
    return cookie.value if cookie else None


def test_a_captured_cookie_stops_working_after_logout(app, world):
    world.user("u@x.org")
    world.login("u@x.org")
    captured = _session_cookie(world.client)
    world.logout()
    thief = app.test_client()
    thief.set_cookie("session", captured)
    assert thief.get(ACCOUNT).status_code == 302


def test_password_change_and_logout_everywhere_end_other_logins(app, world):
    world.user("u@x.org")
    other = app.test_client()
    other.post("/login", data={"email": "u@x.org", "password": PASSWORD, "remember": "1"})
    remember = other.get_cookie("remember_token").value
    world.login("u@x.org")
    assert other.get(ACCOUNT).status_code == 200
    changed = world.client.post("/account/password", data={"current_password": PASSWORD, "new_password": STRONG})
    assert changed.status_code == 303
    assert world.client.get(ACCOUNT).status_code == 200  # this device stays logged in
    assert other.get(ACCOUNT).status_code == 302
    fresh = app.test_client()
    fresh.set_cookie("remember_token", remember)  # the remember cookie is revoked too
    assert fresh.get(ACCOUNT).status_code == 302
    world.client.post("/logout/everywhere")
    assert world.client.get(ACCOUNT).status_code == 302


def test_remember_cookie_is_short_lived_and_cookies_are_flagged(world):
    world.user("u@x.org")
    response = world.client.post("/login", data={"email": "u@x.org", "password": PASSWORD, "remember": "1"})
    cookies = response.headers.getlist("Set-Cookie")
    remember = next(c for c in cookies if c.startswith("remember_token="))
    session = next(c for c in cookies if c.startswith("session="))
    for cookie in (remember, session):
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert "Max-Age=1209600" in remember or "Expires=" in remember  # 14 days, not a year
    assert "Max-Age=31" not in remember


def test_secure_cookies_when_configured(tmp_path):
    from zeuge_lite.auth import register_user
    from zeuge_lite.db import connect, migrate
    app = create_app({"TESTING": True, "DATABASE": str(tmp_path / "db.sqlite3"), "SECRET_KEY": "t",
                      "STORAGE_DIR": str(tmp_path / "s"), "WTF_CSRF_ENABLED": False, "COOKIE_SECURE": True,
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with app.app_context():
        conn = connect(app.config["DATABASE"])
        migrate(conn)
        register_user(conn, "s@x.org", "S", PASSWORD)
    response = app.test_client().post("/login", data={"email": "s@x.org", "password": PASSWORD, "remember": "1"})
    cookies = response.headers.getlist("Set-Cookie")
    assert len(cookies) == 2 and all("Secure" in cookie for cookie in cookies)


def test_login_is_throttled_per_address_and_per_account(tmp_path):
    app = create_app({"TESTING": True, "DATABASE": str(tmp_path / "db.sqlite3"), "SECRET_KEY": "t",
                      "STORAGE_DIR": str(tmp_path / "s"), "WTF_CSRF_ENABLED": False,
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "LOGIN_LIMITS": "6 per minute",
                      "ACCOUNT_LOGIN_LIMITS": "3 per minute"})
    client = app.test_client()
    answers = [client.post("/login", data={"email": "victim@x.org", "password": f"guess{n}"}).status_code
               for n in range(4)]
    assert answers == [401, 401, 401, 429]
    other_accounts = [client.post("/login", data={"email": f"u{n}@x.org", "password": "x"}).status_code
                      for n in range(4)]
    assert other_accounts[:2] == [401, 401] and other_accounts[-1] == 429  # the address's 6 per minute
    elsewhere = client.post("/login", data={"email": "victim@x.org", "password": "x"},
                            environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert elsewhere.status_code == 429 and b"Too many attempts" in elsewhere.data


def test_the_server_never_runs_with_a_known_key(tmp_path):
    from zeuge_lite.sessions import InsecureSecretKey
    with pytest.raises(InsecureSecretKey, match="forge a login"):
        create_app({"DATABASE": str(tmp_path / "db.sqlite3"), "SECRET_KEY": "dev-only-change-me"})


def test_without_a_key_one_is_generated_into_the_instance_and_kept(tmp_path):
    from zeuge_lite.sessions import _instance_key
    path = tmp_path / "instance" / "secret_key"
    first = _instance_key(path)
    assert len(first) == 64 and _instance_key(path) == first
    assert path.stat().st_mode & 0o077 == 0


def test_change_password(client, world):
    world.user("u@x.org")
    world.login("u@x.org")
    bad = client.post("/account/password", data={"current_password": "wrong", "new_password": STRONG})
    assert bad.status_code == 422
    weak = client.post("/account/password", data={"current_password": PASSWORD, "new_password": "123456789012"})
    assert weak.status_code == 422 and b"harder password" in weak.data
    ok = client.post("/account/password", data={"current_password": PASSWORD, "new_password": STRONG})
    assert ok.status_code == 303
    world.logout()
    assert client.post("/login", data={"email": "u@x.org", "password": STRONG}).status_code == 303


def test_writes_without_csrf_token_are_refused(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp_path / "db.sqlite3"),
                      "STORAGE_DIR": str(tmp_path / "s")})
    client = app.test_client()
    response = client.post("/register", data={"email": "a@x.org", "name": "A", "password": STRONG})
    assert response.status_code == 400 and b"CSRF" in response.data
    page = client.get("/register").data.decode()
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    ok = client.post("/register", data={"email": "a@x.org", "name": "A", "password": STRONG,
                                        "csrf_token": token})
    assert ok.status_code == 302
    header_ok = client.post("/logout", headers={"X-CSRFToken": token})
    assert header_ok.status_code == 303


def test_archive_page_title_is_plain_text(client, world):
    _owner, archive = world.user("t@x.org")
    world.login("t@x.org")
    page = client.get(f"/archives/{archive}").data.decode()
    title = page.split("<title>")[1].split("</title>")[0]
    assert "<" not in title and "t@x.org archive" in title
    assert page.count('id="members"') == 1
