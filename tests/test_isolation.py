"""Every route with an id: a member of another archive gets 404 (an instance page, 403 to a non-administrator),
an anonymous user is sent to log in."""
import pytest

from tests.conftest import image_bytes
from zeuge_lite import members

ID_ARGUMENTS = {"archive_id", "batch_id", "item_id", "key", "entry_id", "invitation_id", "request_id"}


def _routes_with_ids(app):
    for rule in app.url_map.iter_rules():
        if ID_ARGUMENTS & set(rule.arguments):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


@pytest.fixture
def victim(world):
    """An archive with a batch and an item that belongs to someone else."""
    _user, archive = world.user("victim@x.org")  # user_id: the victim's own membership routes
    world.login("victim@x.org")
    batch = world.batch(archive)
    item, gone = [r["item_id"] for r in world.upload(batch, ("secret.png", image_bytes("PNG")),
                                                      ("gone.png", image_bytes("PNG", color=(1, 2, 3))))]
    world.client.post(f"/items/{gone}/delete")  # to the trash: its entry has routes of its own
    entry = world.conn.execute("SELECT id FROM trash WHERE item_id = ?", (gone,)).fetchone()["id"]
    world.logout()
    members.invite(world.conn, archive, "invited@x.org", "viewer", _user)  # addressed to neither of them
    invitation = world.conn.execute("SELECT id FROM invitations").fetchone()["id"]
    return {"archive_id": archive, "batch_id": batch, "item_id": item, "kind": "thumb", "user_id": _user,
            "key": str(item), "fmt": "json", "entry_id": entry, "tier": "exact", "invitation_id": invitation,
            "request_id": 1, "answer": "grant", "token": "t"}


def _url(app, rule, ids):
    with app.test_request_context():
        from flask import url_for
        return url_for(rule.endpoint, **{name: ids[name] for name in rule.arguments})


def test_there_are_routes_to_check(app):
    endpoints = {rule.endpoint for rule, _method in _routes_with_ids(app)}
    assert {"items.show", "items.delete", "batches.save_order", "archives.show", "items.original"} <= endpoints


def test_other_archive_member_gets_404_everywhere(app, world, victim):
    world.user("intruder@x.org")  # the second account: no administrator (the victim, the first, is one)
    world.login("intruder@x.org")
    for rule, method in _routes_with_ids(app):
        response = world.client.open(_url(app, rule, victim), method=method,
                                     data={"item": [victim["item_id"]], "entry": [victim["entry_id"]],
                                           "plan": "free"})
        # The admin pages span every archive: what keeps others out is being no administrator, which says
        # nothing about any one archive.
        expected = 403 if rule.endpoint.startswith("admin.") else 404
        assert response.status_code == expected, (rule.rule, method, response.status_code)
    assert world.conn.execute("SELECT plan FROM archives WHERE id = ?", (victim["archive_id"],)).fetchone()[0] == "pro"
    assert world.conn.execute("SELECT count(*) FROM invitations").fetchone()[0] == 1


def test_anonymous_user_is_sent_to_login_everywhere(app, world, victim):
    for rule, method in _routes_with_ids(app):
        response = world.client.open(_url(app, rule, victim), method=method)
        assert response.status_code == 302, (rule.rule, method)
        assert response.headers["Location"].startswith("/login"), rule.rule


def test_the_owner_still_reaches_them(app, world, victim):
    world.login("victim@x.org")
    for endpoint in ("items.show", "batches.items", "archives.show", "items.derived", "trash.show", "trash.thumb"):
        rule = next(r for r, _m in _routes_with_ids(app) if r.endpoint == endpoint)
        assert world.client.get(_url(app, rule, victim)).status_code == 200, endpoint
