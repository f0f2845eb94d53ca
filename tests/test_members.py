"""Membership (issue 14): an invitation the person accepts, or a link the owner hands over; the owner's messages
name no one who has not accepted; roles, removal, leaving with the last owner kept; new and renamed archives.
Every change lands in the archive's audit log."""
import re

import pytest

from zeuge_lite import members, queries
from zeuge_lite import queries_review as qr


@pytest.fixture
def owned(world):
    """The owner's archive, with the owner logged in; a second registered account, "Colleague", in no part of it."""
    _owner, archive = world.user("owner@x.org", name="Owner")
    colleague, _own = world.user("colleague@x.org", name="Colleague")
    world.login("owner@x.org")
    return archive, colleague


def _invite(client, archive, email, role="archivist"):
    return client.post(f"/archives/{archive}/invitations", data={"email": email, "role": role}, follow_redirects=True)


def _flash(response):
    return re.findall(r'<li class="flash[^"]*">(.*?)</li>', response.data.decode(), re.S)[-1]


def _last_entry(conn, archive):
    return qr.audit_entries(conn, archive)[0]


def test_inviting_adds_no_one_until_they_accept(client, world, conn, owned):
    archive, colleague = owned
    response = _invite(client, archive, "colleague@x.org")
    assert queries.archive_for_member(conn, archive, colleague) is None
    assert "Colleague" not in response.data.decode()  # named nowhere on the page before accepting
    entry = _last_entry(conn, archive)
    assert (entry["action"], entry["detail"]) == ("invite", "invited colleague@x.org as archivist")
    world.logout()
    world.login("colleague@x.org")
    home = client.get("/")  # two archives' worth of reason to stop on the home page: the invitation
    assert home.status_code == 200 and b"Invitations for you" in home.data and b"owner@x.org archive" in home.data
    invitation = conn.execute("SELECT id FROM invitations").fetchone()["id"]
    client.post(f"/invitations/{invitation}/accept")
    assert queries.archive_for_member(conn, archive, colleague)["role"] == "archivist"
    entry = _last_entry(conn, archive)
    assert (entry["action"], entry["user_id"]) == ("join", colleague)
    assert entry["detail"] == "Colleague accepted the invitation for colleague@x.org and joined as archivist"
    assert conn.execute("SELECT count(*) FROM invitations").fetchone()[0] == 0


def test_the_owners_message_is_the_same_whether_or_not_the_address_has_an_account(client, owned):
    archive, _colleague = owned
    known, unknown = (_flash(_invite(client, archive, email)) for email in ("colleague@x.org", "nobody@x.org"))
    def shape(message, email):
        return re.sub(r"https?://\S+", "LINK", message.replace(email, "EMAIL"))
    assert shape(known, "colleague@x.org") == shape(unknown, "nobody@x.org")
    assert "Colleague" not in known and "register first" not in unknown.lower()


def test_an_account_registered_after_the_invitation_accepts_it_only_with_the_link(client, world, conn, owned):
    """Nothing checks who registers an address: whoever registers the invited address first used to get the
    invitation's role (an attacker, before the colleague). An account younger than the invitation sees it, and
    accepts it with the link the owner hands over."""
    archive, _colleague = owned
    link = re.search(r"https?://[^/\s]+(/join/\S+)", _flash(_invite(client, archive, "later@x.org", "viewer"))).group(1)
    world.logout()
    later, _own = world.user("later@x.org", name="Later")
    conn.execute("UPDATE users SET created_at = datetime('now', '+1 second') WHERE id = ?", (later,))
    world.login("later@x.org")
    home = client.get("/").get_data(as_text=True)
    assert "owner@x.org archive" in home and "open the invitation" in home and "Accept the invitation" not in home
    invitation = conn.execute("SELECT id FROM invitations").fetchone()["id"]
    assert client.post(f"/invitations/{invitation}/accept").status_code == 404
    assert client.post(f"/invitations/{invitation}/decline").status_code == 404
    assert queries.archive_for_member(conn, archive, later) is None
    client.post(link, data={"answer": "accept"})
    assert queries.archive_for_member(conn, archive, later)["role"] == "viewer"


def test_declining_names_only_the_address_the_owner_typed(client, world, conn, owned):
    archive, colleague = owned
    _invite(client, archive, "colleague@x.org")
    world.logout()
    world.login("colleague@x.org")
    invitation = conn.execute("SELECT id FROM invitations").fetchone()["id"]
    client.post(f"/invitations/{invitation}/decline")
    assert queries.archive_for_member(conn, archive, colleague) is None
    entry = _last_entry(conn, archive)
    assert entry["action"] == "invitation declined" and entry["user_id"] is None
    assert entry["detail"] == "the invitation for colleague@x.org (archivist) was declined"
    assert conn.execute("SELECT count(*) FROM invitations").fetchone()[0] == 0


def test_someone_elses_invitation_is_a_404(client, world, conn, owned):
    archive, colleague = owned
    _invite(client, archive, "someone@x.org")
    invitation = conn.execute("SELECT id FROM invitations").fetchone()["id"]
    world.logout()
    world.login("colleague@x.org")
    assert client.post(f"/invitations/{invitation}/accept").status_code == 404
    assert client.post(f"/invitations/{invitation}/decline").status_code == 404
    assert queries.archive_for_member(conn, archive, colleague) is None
    assert conn.execute("SELECT count(*) FROM invitations").fetchone()[0] == 1


def test_a_link_invitation_is_accepted_by_whoever_opens_it_and_only_once(client, world, conn, owned):
    archive, colleague = owned
    message = _flash(_invite(client, archive, "", "viewer"))
    link = re.search(r"https?://[^/\s]+(/join/\S+)", message).group(1)
    assert _last_entry(conn, archive)["detail"] == "made an invitation link for a new viewer"
    world.logout()
    world.login("colleague@x.org")
    page = client.get(link)
    assert page.status_code == 200 and b"owner@x.org archive" in page.data
    assert queries.archive_for_member(conn, archive, colleague) is None  # opening it changes nothing
    assert client.post(link).status_code == 400  # neither answer: nothing is decided
    client.post(link, data={"answer": "accept"})
    assert queries.archive_for_member(conn, archive, colleague)["role"] == "viewer"
    assert client.get(link).status_code == 404 and client.post(link, data={"answer": "accept"}).status_code == 404


def test_a_link_needs_a_login_and_a_wrong_one_is_a_404(client, world, owned):
    world.logout()
    assert client.get("/join/whatever").headers["Location"].startswith("/login")
    world.login("colleague@x.org")
    assert client.get("/join/whatever").status_code == 404


def test_an_invitation_expires(client, world, conn, owned):
    archive, colleague = owned
    _invite(client, archive, "colleague@x.org")
    conn.execute("UPDATE invitations SET expires_at = datetime('now', '-1 second')")
    world.logout()
    world.login("colleague@x.org")
    invitation = conn.execute("SELECT id FROM invitations").fetchone()["id"]
    assert client.post(f"/invitations/{invitation}/accept").status_code == 404
    assert queries.archive_for_member(conn, archive, colleague) is None


def test_declining_a_link_uses_it_up(client, world, conn, owned):
    archive, colleague = owned
    link = re.search(r"(/join/\S+)", _flash(_invite(client, archive, ""))).group(1)
    world.logout()
    world.login("colleague@x.org")
    client.post(link, data={"answer": "decline"})
    assert queries.archive_for_member(conn, archive, colleague) is None and client.get(link).status_code == 404
    assert _last_entry(conn, archive)["detail"] == "an invitation link (archivist) was declined"


def test_expired_invitations_are_cleared_when_the_next_is_made(client, conn, owned):
    archive, _colleague = owned
    _invite(client, archive, "old@x.org")
    conn.execute("UPDATE invitations SET expires_at = datetime('now', '-1 second')")
    _invite(client, archive, "new@x.org")
    assert [r["email"] for r in conn.execute("SELECT email FROM invitations")] == ["new@x.org"]


def test_withdrawing_an_invitation_stops_its_link(client, world, conn, owned):
    archive, _colleague = owned
    link = re.search(r"(/join/\S+)", _flash(_invite(client, archive, ""))).group(1)
    invitation = conn.execute("SELECT id FROM invitations").fetchone()["id"]
    client.post(f"/archives/{archive}/invitations/{invitation}/withdraw")
    assert _last_entry(conn, archive)["detail"] == "withdrew an invitation link (archivist)"
    world.logout()
    world.login("colleague@x.org")
    assert client.get(link).status_code == 404


def test_inviting_a_member_again_says_so_and_a_bad_role_is_refused(client, conn, owned):
    archive, _colleague = owned
    assert "belongs to this archive already" in _flash(_invite(client, archive, "owner@x.org"))
    assert "Choose a role" in _flash(_invite(client, archive, "new@x.org", "king"))
    assert conn.execute("SELECT count(*) FROM invitations").fetchone()[0] == 0


def test_only_owners_invite_change_roles_and_remove(client, world, conn, owned):
    archive, colleague = owned
    queries.add_member(conn, archive, colleague, "archivist")
    world.logout()
    world.login("colleague@x.org")
    owner = queries.user_by_email(conn, "owner@x.org")["id"]
    for url, data in ((f"/archives/{archive}/invitations", {"email": "x@x.org", "role": "owner"}),
                      (f"/archives/{archive}/members/{colleague}/role", {"role": "owner"}),
                      (f"/archives/{archive}/members/{owner}/remove", {}),
                      (f"/archives/{archive}/rename", {"name": "Mine now"})):
        assert client.post(url, data=data).status_code == 403, url
    assert queries.owner_count(conn, archive) == 1
    assert queries.archive_by_id(conn, archive)["name"] == "owner@x.org archive"
    assert b'id="members"' not in client.get(f"/archives/{archive}").data


def test_owner_changes_roles_and_removes_members_but_keeps_an_owner(client, world, conn, owned):
    archive, colleague = owned
    queries.add_member(conn, archive, colleague, "viewer")
    client.post(f"/archives/{archive}/members/{colleague}/role", data={"role": "archivist"})
    assert queries.archive_for_member(conn, archive, colleague)["role"] == "archivist"
    assert _last_entry(conn, archive)["detail"] == "changed the role of Colleague from viewer to archivist"
    owner = queries.user_by_email(conn, "owner@x.org")["id"]
    demote = client.post(f"/archives/{archive}/members/{owner}/role", data={"role": "viewer"}, follow_redirects=True)
    assert "at least one owner" in _flash(demote) and queries.owner_count(conn, archive) == 1
    assert "at least one owner" in _flash(client.post(f"/archives/{archive}/members/{owner}/remove",
                                                      follow_redirects=True))
    client.post(f"/archives/{archive}/members/{colleague}/remove")
    assert queries.archive_for_member(conn, archive, colleague) is None
    assert _last_entry(conn, archive)["detail"] == "removed Colleague (archivist) from the archive"
    world.logout()
    world.login("colleague@x.org")
    assert client.get(f"/archives/{archive}").status_code == 404


def test_a_member_leaves_but_the_last_owner_cannot(client, world, conn, owned):
    archive, colleague = owned
    queries.add_member(conn, archive, colleague, "viewer")
    page = client.get(f"/archives/{archive}").data.decode()
    assert "only owner" in page and f"/archives/{archive}/leave" not in page
    refused = client.post(f"/archives/{archive}/leave", follow_redirects=True)
    assert "at least one owner" in _flash(refused) and queries.owner_count(conn, archive) == 1
    world.logout()
    world.login("colleague@x.org")
    assert f"/archives/{archive}/leave" in client.get(f"/archives/{archive}").data.decode()  # a viewer may leave
    client.post(f"/archives/{archive}/leave")
    assert queries.archive_for_member(conn, archive, colleague) is None
    entry = _last_entry(conn, archive)
    assert (entry["action"], entry["detail"]) == ("left", "Colleague left the archive (was viewer)")


def test_a_second_owner_may_leave(client, world, conn, owned):
    archive, colleague = owned
    queries.add_member(conn, archive, colleague, "owner")
    client.post(f"/archives/{archive}/leave")
    assert queries.archive_for_member(conn, archive, queries.user_by_email(conn, "owner@x.org")["id"]) is None
    assert queries.owner_count(conn, archive) == 1


def test_last_owner_rule_holds_in_the_service_too(conn, owned):
    archive, _colleague = owned
    owner = queries.user_by_email(conn, "owner@x.org")["id"]
    for change in (lambda: members.leave(conn, archive, owner), lambda: members.remove(conn, archive, owner, owner),
                   lambda: members.change_role(conn, archive, owner, "viewer", owner)):
        with pytest.raises(members.MembershipError, match="at least one owner"):
            change()
    assert queries.owner_count(conn, archive) == 1


def test_owner_creates_another_archive_and_renames_it(client, conn, owned):
    _archive, _colleague = owned
    assert client.get("/archives/new").status_code == 200
    response = client.post("/archives", data={"name": "  Parish photos "})
    archive = int(response.headers["Location"].rsplit("/", 1)[1])
    owner = queries.user_by_email(conn, "owner@x.org")["id"]
    row = queries.archive_for_member(conn, archive, owner)
    assert (row["name"], row["role"], row["plan"]) == ("Parish photos", "owner", "free")
    assert _last_entry(conn, archive)["detail"] == "created the archive “Parish photos”"
    assert client.post("/archives", data={"name": " "}).status_code == 422
    client.post(f"/archives/{archive}/rename", data={"name": "Parish photos 1900–1950"})
    assert queries.archive_by_id(conn, archive)["name"] == "Parish photos 1900–1950"
    entry = _last_entry(conn, archive)
    assert entry["action"] == "rename"
    assert entry["detail"] == "renamed the archive from “Parish photos” to “Parish photos 1900–1950”"


def test_membership_posts_need_the_csrf_token(app, client, world, conn, owned):
    archive, colleague = owned
    app.config["WTF_CSRF_ENABLED"] = True
    queries.add_member(conn, archive, colleague, "viewer")
    for url, data in ((f"/archives/{archive}/invitations", {"email": "x@x.org", "role": "viewer"}),
                      (f"/archives/{archive}/members/{colleague}/role", {"role": "owner"}),
                      (f"/archives/{archive}/members/{colleague}/remove", {}),
                      (f"/archives/{archive}/rename", {"name": "x"}), ("/archives", {"name": "x"}),
                      (f"/archives/{archive}/leave", {})):
        assert client.post(url, data=data).status_code == 400, url
    assert queries.archive_for_member(conn, archive, colleague)["role"] == "viewer"
    assert conn.execute("SELECT count(*) FROM invitations").fetchone()[0] == 0


def test_the_members_and_invitations_tables_reflow_on_a_phone(client, owned):
    archive, _colleague = owned
    _invite(client, archive, "pending@x.org")
    page = client.get(f"/archives/{archive}").data.decode()
    for name in ("members", "invitations"):
        table = page[page.index(f'<table class="table stack {name}">'):]
        table = table[:table.index("</table>")]
        assert "data-label=" in table, name
    assert '<label class="visually-hidden" for="role-' in page


def test_a_change_and_its_audit_entry_commit_together(conn, owned, monkeypatch):
    archive, colleague = owned
    queries.add_member(conn, archive, colleague, "viewer")
    owner = queries.user_by_email(conn, "owner@x.org")["id"]

    def broken_log(*_args, **_kwargs):
        raise RuntimeError("the log could not be written")
    monkeypatch.setattr(qr, "log_action", broken_log)
    for change in (lambda: members.change_role(conn, archive, colleague, "owner", owner),
                   lambda: members.remove(conn, archive, colleague, owner),
                   lambda: members.invite(conn, archive, "new@x.org", "viewer", owner),
                   lambda: members.rename(conn, archive, "Renamed", owner)):
        with pytest.raises(RuntimeError):
            change()
    assert queries.archive_for_member(conn, archive, colleague)["role"] == "viewer"
    assert queries.archive_by_id(conn, archive)["name"] == "owner@x.org archive"
    assert conn.execute("SELECT count(*) FROM invitations").fetchone()[0] == 0
