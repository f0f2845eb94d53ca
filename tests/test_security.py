"""Headers and served files: the CSP and its companions on every response, templates without inline code,
originals typed by their decoded format and always downloaded, CSV cells that cannot run as formulas."""
import csv
import io
import itertools
import json
import re
import zipfile
from pathlib import Path

import pytest

from tests.conftest import image_bytes
from zeuge_lite import members, queries, report, security

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# duplicates.html (zeuge_lite/report.py, not a template) is saved and opened from disk, where no CSP applies; it
# is never shown inline (attachment). Every template is shown under the CSP.
STANDALONE_TEMPLATES = set()
FORMULAS = ["=1+1", "+x", "-x", "@x", "\tx", "\rx"]


def _csp(response):
    directives = {}
    for part in response.headers["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        directives[name] = set(sources)
    return directives


def assert_secure(response, where):
    """The headers every response must carry, checked against the requirement (not against security.py)."""
    csp = _csp(response)
    for name in ("default-src", "script-src", "style-src"):
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*"} & csp.get(name, set()), (where, name, csp)
    assert "script-src" in csp or csp["default-src"] == {"'self'"}, where
    assert csp["default-src"] == {"'self'"} and csp["frame-ancestors"] == {"'none'"}, where
    assert csp["object-src"] == {"'none'"} and csp["base-uri"] == {"'self'"} and csp["form-action"] == {"'self'"}
    assert response.headers["X-Content-Type-Options"] == "nosniff", where
    assert response.headers["X-Frame-Options"] == "DENY", where
    assert response.headers["Referrer-Policy"] in ("same-origin", "strict-origin-when-cross-origin"), where
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin", where


@pytest.fixture
def owned(world):
    """A logged-in owner of a pro archive with a batch of two items."""
    user, archive = world.user("own@x.org")
    world.login("own@x.org")
    batch = world.batch(archive)
    items = [r["item_id"] for r in world.upload(batch, ("a.png", image_bytes("PNG")),
                                                 ("b.jpg", image_bytes("JPEG", color=(10, 200, 10))),
                                                 ("c.png", image_bytes("PNG", color=(9, 9, 9))))]
    world.client.post(f"/items/{items[2]}/delete")
    entry = world.conn.execute("SELECT id FROM trash WHERE item_id = ?", (items[2],)).fetchone()["id"]
    return {"archive_id": archive, "batch_id": batch, "item_id": items[0], "user_id": user, "entry_id": entry,
            "key": f"{items[0]}-{items[1]}", "kind": ["thumb", "preview"], "fmt": ["json", "html", "csv", "zip"],
            "tier": ["exact", "near"], "token": members.invite(world.conn, archive, None, "viewer", user),
            "filename": ["css/app.css", "js/app.js", "vendor/htmx-2.0.11.min.js"]}


def _get_urls(app, values):
    """One URL per GET route in the url_map, every value of an any() or list argument."""
    from flask import url_for
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods:
                continue
            names = sorted(rule.arguments)
            choices = [values[n] if isinstance(values[n], list) else [values[n]] for n in names]
            for combination in itertools.product(*choices):
                yield rule.endpoint, url_for(rule.endpoint, **dict(zip(names, combination)))


def test_every_get_route_static_file_fragment_and_error_carries_the_headers(app, world, owned):
    urls = list(_get_urls(app, owned))
    assert len({endpoint for endpoint, _url in urls}) >= 25 and any(e == "static" for e, _u in urls)
    for _endpoint, url in urls:
        response = world.client.get(url)
        assert response.status_code < 500, (url, response.status_code)
        assert_secure(response, url)
        response.close()  # a streamed export ends here, in its own request's context (as a server closes it)
    fragment = world.client.get(f"/batches/{owned['batch_id']}/similarity/groups", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and b"<html" not in fragment.data
    assert_secure(fragment, "fragment")
    missing = world.client.get("/no/such/page")
    assert missing.status_code == 404
    assert_secure(missing, "404")
    world.logout()
    assert_secure(world.client.get("/"), "anonymous redirect")


def test_an_unhandled_error_carries_the_headers_too(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/boom")
    def boom():
        raise RuntimeError("boom")
    response = client.get("/boom")
    assert response.status_code == 500
    assert_secure(response, "500")


def _templates():
    return sorted(p for p in TEMPLATES.rglob("*.html"))


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_hold_no_inline_code(path):
    text = path.read_text()
    assert not re.search(r"\son[a-z]+\s*=", text, re.IGNORECASE), "inline event handler"
    assert "hx-on" not in text and "hx-vars" not in text and "javascript:" not in text.lower()
    assert not re.search(r"hx-vals\s*=\s*['\"]\s*js:", text), "hx-vals evaluated as code"
    for attributes, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", text, re.DOTALL | re.IGNORECASE):
        assert "src=" in attributes and not body.strip(), "inline <script>"
    if str(path.relative_to(TEMPLATES)) not in STANDALONE_TEMPLATES:
        assert not re.search(r"<style\b|\sstyle\s*=", text, re.IGNORECASE), "inline style: style-src is 'self' only"


def test_htmx_is_configured_to_need_no_eval_and_no_inline_style():
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", (TEMPLATES / "base.html").read_text())
    config = json.loads(meta.group(1))
    assert config["allowEval"] is False and config["allowScriptTags"] is False
    assert config["includeIndicatorStyles"] is False and "style" not in config["attributesToSettle"]


def test_a_gif_uploaded_as_html_downloads_as_a_gif_attachment(world, client):
    _user, archive = world.user("gif@x.org")
    world.login("gif@x.org")
    batch = world.batch(archive)
    item = world.upload(batch, ("evil.html", image_bytes("GIF")))[0]["item_id"]
    response = client.get(f"/items/{item}/original")
    assert response.status_code == 200 and response.data == image_bytes("GIF")
    assert response.mimetype == "image/gif"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and 'filename="evil.html.gif"' in disposition
    assert "filename*=UTF-8''evil.html.gif" in disposition
    assert_secure(response, "original")
    thumb = client.get(f"/items/{item}/thumb.jpg")
    assert thumb.mimetype == "image/jpeg" and "attachment" not in thumb.headers.get("Content-Disposition", "")


@pytest.mark.parametrize("fmt, mimetype", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("TIFF", "image/tiff"),
                                           ("WEBP", "image/webp")])
def test_originals_are_typed_by_their_decoded_format_not_their_name(world, client, fmt, mimetype):
    _user, archive = world.user("fmt@x.org")
    world.login("fmt@x.org")
    item = world.upload(world.batch(archive), ("scan.bin", image_bytes(fmt)))[0]["item_id"]
    response = client.get(f"/items/{item}/original")
    assert response.mimetype == mimetype and response.headers["Content-Disposition"].startswith("attachment;")


def test_attachment_names_are_safe_ascii_with_the_full_name_in_rfc5987():
    value = security.attachment('Fotó "Ü"\r\n/../x\\y.png')
    assert value.startswith('attachment; filename="') and value.isascii() and "\r" not in value
    ascii_name = re.search(r'filename="([^"]*)"', value).group(1)
    assert re.fullmatch(r"[A-Za-z0-9._()+ -]+", ascii_name) and ascii_name.endswith(".png")
    assert "filename*=UTF-8''Fot%C3%B3%20%22%C3%9C%22_" in value
    assert security.attachment("") == "attachment; filename=\"download\"; filename*=UTF-8''download"
    assert security.original_name("scan.JPEG", "JPEG", "jpg") == "scan.JPEG"
    assert security.original_name("scan", "TIFF", "tif") == "scan.tif"


def test_reports_and_the_batch_zip_are_downloads_never_pages(world, owned):
    batch = owned["batch_id"]
    for fmt in owned["fmt"]:  # the HTML report has inline styles: shown as a page, our own CSP would break it
        disposition = world.client.get(f"/batches/{batch}/similarity/export.{fmt}").headers["Content-Disposition"]
        assert disposition.startswith(f'attachment; filename="duplicates.{fmt}"'), disposition  # as the link says
    zipped = world.client.get(f"/batches/{batch}/export.zip")
    assert zipped.mimetype == "application/zip"
    assert zipped.headers["Content-Disposition"].startswith('attachment; filename="Box-1-')


def test_csv_cell_neutralises_formula_starts_only():
    assert [report.csv_cell(v) for v in FORMULAS] == ["'" + v for v in FORMULAS]
    assert [report.csv_cell(v) for v in ("a=b", "x-1", "", 3, -2.5, None)] == ["a=b", "x-1", "", 3, -2.5, None]


def _rows(text):
    return list(csv.reader(io.StringIO(text, newline="")))


def test_manifest_csv_neutralises_formula_cells(world, client, conn):
    _user, archive = world.user("man@x.org")
    world.login("man@x.org")
    batch = world.batch(archive)
    item = world.upload(batch, ("=HYPERLINK(1).png", image_bytes("PNG")))[0]["item_id"]
    fields = dict(zip(("title", "description", "creator", "subject", "rights", "contributor"), FORMULAS))
    queries.update_item_fields(conn, item, fields)
    conn.commit()
    bundle = zipfile.ZipFile(io.BytesIO(client.get(f"/batches/{batch}/export.zip").data))
    header, row = _rows(bundle.read("manifest.csv").decode())
    cells = dict(zip(header, row))
    assert [cells[name] for name in fields] == ["'" + v for v in FORMULAS]
    assert cells["original_filename"] == "'=HYPERLINK(1).png" and cells["position"] == "1"
    assert json.loads(bundle.read("manifest.json"))["items"][0]["title"] == "=1+1"  # JSON is not a spreadsheet


def test_duplicates_csv_neutralises_formula_cells(world, client, conn):
    from PIL import Image

    from tests.test_analysis import _jpeg
    from zeuge_lite.demo import PHOTOS_DIR
    from zeuge_lite.tasks import huey
    _user, archive = world.user("dup@x.org")
    world.login("dup@x.org")
    batch = world.batch(archive)
    photo = Image.open(PHOTOS_DIR / "kodak-kodim05.png").convert("RGB")
    copies = [(f"copy{q}.jpg", _jpeg(photo, q)) for q in (95, 90, 85, 80, 75, 70)]
    ids = [r["item_id"] for r in world.upload(batch, *copies)]
    huey.immediate = True
    try:
        client.post(f"/batches/{batch}/similarity/run")
    finally:
        huey.immediate = False
    for item_id, name in zip(ids, FORMULAS):  # a filename cannot start with a tab or CR through an upload
        conn.execute("UPDATE items SET filename = ? WHERE id = ?", (name, item_id))
    conn.commit()
    response = client.get(f"/batches/{batch}/similarity/export.csv")
    assert response.mimetype == "text/csv" and response.headers["Content-Disposition"].startswith("attachment;")
    header, *rows = _rows(response.data.decode())
    paths = [dict(zip(header, row))["path"] for row in rows]
    assert sorted(paths) == sorted("'" + v for v in FORMULAS)
    assert all(float(dict(zip(header, row))["score"]) > 0 for row in rows)


def test_pages_fragments_and_exports_are_not_stored_but_static_files_and_images_may_be(world, owned):
    client = world.client
    for url in ("/", f"/batches/{owned['batch_id']}", f"/batches/{owned['batch_id']}/metadata",
                f"/batches/{owned['batch_id']}/similarity/export.json", "/login"):
        assert client.get(url).headers.get("Cache-Control") == "no-store", url
    for url in ("/static/css/app.css", f"/items/{owned['item_id']}/thumb.jpg"):
        response = client.get(url)
        assert response.status_code == 200 and "no-store" not in response.headers.get("Cache-Control", ""), url
