"""Error answers: an htmx request gets a one-line fragment (swapped in place for 409/422, shown as a page
message otherwise), a page load gets a page; never the framework's own error page."""
from tests.test_review import GROUP, _key
from tests import test_review

analysed = test_review.analysed  # the review tests' analysed batch, as a fixture here too
HTMX = {"HX-Request": "true"}


def test_deleting_nothing_ticked_answers_a_fragment_inside_the_card(client, analysed):
    batch, _archive, ids = analysed
    answer = client.get(f"/batches/{batch}/similarity/group/{_key(ids, *GROUP)}/delete", headers=HTMX)
    text = answer.data.decode()
    assert answer.status_code == 422 and text.startswith('<p class="flash error error-fragment"')
    assert "Choose the copies to delete" in text and "<html" not in text and "Unprocessable" not in text
    assert "HX-Request" in answer.headers["Vary"]


def test_missing_things_answer_a_plain_page_or_fragment(client, world):
    world.user("err@x.org")
    world.login("err@x.org")
    page = client.get("/items/999").data.decode()
    assert "This is not here (any more)" in page and "<html" in page and "Back to your archives" in page
    assert "requested URL was not found" not in page  # werkzeug's own text
    fragment = client.get("/items/999", headers=HTMX)
    assert fragment.status_code == 404 and "<html" not in fragment.data.decode()
    assert "This is not here" in fragment.data.decode()


def test_a_server_error_says_nothing_changed(app, client, world, monkeypatch):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the error handler answers
    world.user("boom@x.org")
    world.login("boom@x.org")
    from zeuge_lite.views import archives

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(archives.queries, "archives_of_user", broken)
    answer = client.get("/", headers=HTMX)
    assert answer.status_code == 500 and "Nothing was changed" in answer.data.decode()
    assert "disk on fire" not in answer.data.decode()
