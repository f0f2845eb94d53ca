"""A stale page or an ended login: the uploader hears why in JSON, an htmx request gets the message for the
page's error line (not the login page inside a card), a form post says the page is out of date; nothing is saved."""
import io

import pytest

from tests.conftest import image_bytes
from zeuge_lite import queries
from zeuge_lite.auth import SIGNED_OUT
from zeuge_lite.views.errors import STALE_PAGE

JSON = {"Accept": "application/json"}


@pytest.fixture
def batch(world):
    _archive, batch = world.own_batch("stale@x.org")
    return batch


def _upload(world, batch, headers=JSON):
    return world.client.post(f"/batches/{batch}/upload", data={"files": [(io.BytesIO(image_bytes()), "a.jpg")]},
                             headers=headers, content_type="multipart/form-data")


def test_an_upload_with_a_stale_csrf_token_answers_json_and_saves_nothing(app, world, batch, conn):
    app.config["WTF_CSRF_ENABLED"] = True
    response = _upload(world, batch, {**JSON, "X-CSRFToken": "a-token-from-an-old-page"})
    assert response.status_code == 400 and response.get_json() == {"error": STALE_PAGE}
    assert queries.items_of_batch(conn, batch) == []


def test_a_form_post_with_a_stale_csrf_token_says_the_page_is_out_of_date(app, world, batch):
    app.config["WTF_CSRF_ENABLED"] = True
    response = world.client.post(f"/batches/{batch}/rename", data={"name": "New", "csrf_token": "old"})
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "Reload it and try again" in response.get_data(as_text=True)
    assert "CSRF token" not in response.get_data(as_text=True)  # not Flask-WTF's "The CSRF token is invalid."


def test_an_upload_after_logging_out_answers_json_and_saves_nothing(world, batch, conn):
    world.logout()
    response = _upload(world, batch)
    assert response.status_code == 401 and response.get_json() == {"error": SIGNED_OUT}
    assert queries.items_of_batch(conn, batch) == []


def test_an_htmx_request_after_logging_out_says_so_in_place_of_the_login_page(world, batch):
    world.logout()
    response = world.client.post(f"/batches/{batch}/rename", data={"name": "New"}, headers={"HX-Request": "true"})
    text = response.get_data(as_text=True)
    assert response.status_code == 401 and SIGNED_OUT in text and 'error-fragment"' in text
    assert "password" not in text  # a message for the page's error line, not the login form


def test_a_page_after_logging_out_still_redirects_to_the_login_with_next(world, batch):
    world.logout()
    response = world.client.get(f"/batches/{batch}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next=%2Fbatches%2F{batch}"
