"""Batch export: originals in batch order with a manifest."""
import csv
import io
import json
import zipfile

from tests.conftest import image_bytes
from zeuge_lite import queries


def test_zip_holds_originals_in_order_and_a_manifest(world, client):
    _user, archive = world.user("ex@x.org")
    world.login("ex@x.org")
    batch = world.batch(archive, "Box / 3")
    files = [("a.jpg", image_bytes("JPEG", color=(10, 200, 10))), ("b.png", image_bytes("PNG"))]
    ids = [r["item_id"] for r in world.upload(batch, *files)]
    client.post(f"/batches/{batch}/order", data={"item": ids[::-1], "order_version": 0})
    client.post(f"/items/{ids[0]}/metadata", data={"title": "Green field"})
    response = client.get(f"/batches/{batch}/export.zip")
    assert response.mimetype == "application/zip"
    assert "Box-3" in response.headers["Content-Disposition"]
    bundle = zipfile.ZipFile(io.BytesIO(response.data))
    assert bundle.namelist()[:2] == ["0001_b.png", "0002_a.jpg"]
    assert bundle.read("0002_a.jpg") == files[0][1]
    rows = list(csv.DictReader(io.StringIO(bundle.read("manifest.csv").decode())))
    assert [(r["file"], r["title"]) for r in rows] == [("0001_b.png", ""), ("0002_a.jpg", "Green field")]
    assert json.loads(bundle.read("manifest.json"))["items"][1]["original_filename"] == "a.jpg"


def test_the_zip_streams_in_chunks_and_is_whole_even_for_a_file_larger_than_a_chunk(world, client, app, conn):
    from zeuge_lite import exporting
    _archive, batch = world.own_batch("stream@x.org")
    big = image_bytes("PNG", size=(1400, 1000), color=(90, 20, 200), compress_level=0)  # > 1 MiB, uncompressed
    assert len(big) > exporting.CHUNK_BYTES
    world.upload(batch, ("big.png", big), ("small.jpg", image_bytes("JPEG")))
    response = client.get(f"/batches/{batch}/export.zip", buffered=False)
    assert response.is_streamed
    chunks = [chunk for chunk in response.response if chunk]
    response.close()
    assert len(chunks) >= 3  # the big file alone crosses a chunk boundary
    bundle = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert bundle.testzip() is None and bundle.read("0001_big.png") == big
    assert [i["file"] for i in json.loads(bundle.read("manifest.json"))["items"]] == ["0001_big.png", "0002_small.jpg"]


def test_an_empty_batch_exports_a_valid_zip_with_empty_manifests(world, client):
    _archive, batch = world.own_batch("empty@x.org")
    bundle = zipfile.ZipFile(io.BytesIO(client.get(f"/batches/{batch}/export.zip").data))
    assert bundle.namelist() == ["manifest.csv", "manifest.json"]
    assert bundle.read("manifest.csv").decode().strip() == "position,file"
    assert json.loads(bundle.read("manifest.json")) == {"batch": "Box 1", "items": []}


def test_a_missing_original_refuses_the_zip_with_a_message_before_any_byte(world, client, app, conn):
    from zeuge_lite.storage import Storage
    _archive, batch = world.own_batch("missing@x.org")
    world.upload(batch, ("here.png", image_bytes("PNG")), ("gone.jpg", image_bytes("JPEG")))
    item = next(i for i in queries.items_of_batch(conn, batch) if i["filename"] == "gone.jpg")
    Storage(app.config["STORAGE_DIR"]).original_path(item["sha256"], item["ext"]).unlink()
    response = client.get(f"/batches/{batch}/export.zip")
    assert response.status_code == 409 and response.mimetype == "text/html"
    assert "1 original of this batch cannot be read (first: “gone.jpg”)" in response.data.decode()


# ---------------------------------------------------------------- the groups exports (duplicates.*), streamed

def _analysed_batch(world, client, email, *files):
    """A pro batch holding files, analysed; return its id."""
    from zeuge_lite.tasks import huey
    _archive, batch = world.own_batch(email)
    world.upload(batch, *files)
    huey.immediate = True
    try:
        client.post(f"/batches/{batch}/similarity/run")
    finally:
        huey.immediate = False
    return batch


def _two_groups(world, client, email="groups@x.org"):
    """A batch with two groups of copies (kodim05 and kodim23, each with a re-encoded copy) and a single photo."""
    from tests.test_analysis import _jpeg, _photo
    from zeuge_lite.demo import PHOTOS_DIR
    return _analysed_batch(world, client, email, *[
        (f"{name}{suffix}", data) for name in ("kodak-kodim05", "kodak-kodim23")
        for suffix, data in ((".png", (PHOTOS_DIR / f"{name}.png").read_bytes()),
                             (".jpg", _jpeg(_photo(f"{name}.png").resize((384, 256)), 70)))],
        ("coffee.png", (PHOTOS_DIR / "skimage-coffee.png").read_bytes()))


def _streamed(client, url):
    """(response, its chunks): the response read chunk by chunk, as a server sends it."""
    response = client.get(url, buffered=False)
    chunks = [chunk for chunk in response.response if chunk]
    response.close()
    return response, chunks


def _whole(app, conn, batch_id, fmt, made_at):
    """The export built the old way: every group made first, then the document at once (jsonify for JSON)."""
    import dataclasses
    from flask import jsonify
    from zeuge_lite import report
    from zeuge_lite.views import exports, thresholds_from
    batch = conn.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
    with app.test_request_context():
        thumbnails = exports._inline_thumbnails(exports.storage()) if fmt == "html" else None
        findings = exports.batch_report(batch, thresholds_from({}), thumbnails)
        whole = dataclasses.replace(findings, groups=list(findings.groups), made_at=made_at)
        if fmt == "json":
            return jsonify(report.to_json(whole)).data
        return (report.to_csv(whole) if fmt == "csv" else report.to_html(whole)).encode()


def _made_at(fmt, data):
    text = data.decode()
    if fmt == "json":
        return json.loads(text)["made_at"]
    return text.split("<p>Made ", 1)[1].split(";", 1)[0] if fmt == "html" else None


def test_the_groups_exports_stream_the_bytes_the_whole_report_makes(world, client, app, conn):
    batch = _two_groups(world, client)
    for fmt in ("json", "csv", "html"):
        response, chunks = _streamed(client, f"/batches/{batch}/similarity/export.{fmt}")
        assert response.is_streamed and response.status_code == 200, fmt
        assert response.headers["Content-Disposition"].startswith("attachment;"), fmt
        data = b"".join(chunks)
        assert data == _whole(app, conn, batch, fmt, _made_at(fmt, data)), fmt
    report = client.get(f"/batches/{batch}/similarity/export.json").get_json()
    assert len(report["groups"]) == 2 and report["items"] == 5
    assert all(len(g["items"]) == 2 for g in report["groups"])


def test_paging_the_groups_changes_no_byte_and_the_thumbnail_limit_spans_pages(world, client, monkeypatch):
    from zeuge_lite import report
    from zeuge_lite.views import exports
    batch = _two_groups(world, client, "pages@x.org")
    whole = {fmt: client.get(f"/batches/{batch}/similarity/export.{fmt}").data for fmt in ("json", "csv", "html")}
    monkeypatch.setattr(exports, "GROUPS_PER_PAGE", 1)
    paged = {fmt: client.get(f"/batches/{batch}/similarity/export.{fmt}").data for fmt in ("json", "csv", "html")}
    assert paged["csv"] == whole["csv"] and json.loads(paged["json"]) == json.loads(whole["json"])
    assert paged["html"].replace(b"\n", b"") == whole["html"].replace(b"\n", b"")
    monkeypatch.setattr(report, "MAX_THUMBNAILS", 3)
    html = client.get(f"/batches/{batch}/similarity/export.html").data.decode()
    assert html.count("data:image/jpeg;base64,") == 3  # two in the first page's group, one in the second's
    assert "Thumbnails are shown for the first 3 photos; later groups list names" in html


def test_the_first_chunk_goes_out_before_the_groups_are_made(world, client, monkeypatch):
    from zeuge_lite.views import exports
    batch = _two_groups(world, client, "first@x.org")
    made = []
    cards_of = exports.cards_of
    monkeypatch.setattr(exports, "cards_of", lambda b, found: made.append(len(found)) or cards_of(b, found))
    starts = {"json": b'{"errors":[],"groups":[', "csv": b"group,item_id,path,score,tier,suggested_keeper\r\n",
              "html": b"<!doctype html>"}
    for fmt, start in starts.items():
        response = client.get(f"/batches/{batch}/similarity/export.{fmt}", buffered=False)
        chunks = iter(response.response)
        first = next(chunks)
        assert first.startswith(start) and made == [], (fmt, first[:80], made)
        rest = b"".join(chunks)
        response.close()
        assert made == [2] and b"kodim05" in rest, fmt
        made.clear()


def test_an_empty_batch_exports_empty_reports(world, client):
    _archive, batch = world.own_batch("none@x.org")
    report = client.get(f"/batches/{batch}/similarity/export.json").get_json()
    assert (report["groups"], report["errors"], report["items"]) == ([], [], 0)
    csv_text = client.get(f"/batches/{batch}/similarity/export.csv").data.decode()
    assert csv_text == "group,item_id,path,score,tier,suggested_keeper\r\n"
    html = client.get(f"/batches/{batch}/similarity/export.html").data.decode()
    assert "0 photos analysed; 0 groups.</p><p>No duplicates or similar photos found.</p></body></html>" in html


def test_unreadable_files_are_listed_and_the_groups_still_export(world, client, app, conn):
    from zeuge_lite.storage import Storage
    from tests.test_analysis import _jpeg, _photo
    _archive, batch = world.own_batch("broken@x.org")
    photo = _photo("kodak-kodim05.png")
    world.upload(batch, ("copy-a.jpg", _jpeg(photo, 90)), ("copy-b.jpg", _jpeg(photo, 70)),
                 ("broken.png", image_bytes("PNG")))
    broken = next(i for i in queries.items_of_batch(conn, batch) if i["filename"] == "broken.png")
    Storage(app.config["STORAGE_DIR"]).original_path(broken["sha256"], broken["ext"]).write_bytes(b"\x89PNG broken")
    from zeuge_lite.tasks import huey
    huey.immediate = True
    try:
        client.post(f"/batches/{batch}/similarity/run")
    finally:
        huey.immediate = False
    report = client.get(f"/batches/{batch}/similarity/export.json").get_json()
    assert [e["path"] for e in report["errors"]] == ["broken.png"] and report["items"] == 3
    assert [sorted(i["path"] for i in g["items"]) for g in report["groups"]] == [["copy-a.jpg", "copy-b.jpg"]]
    rows = list(csv.DictReader(io.StringIO(client.get(f"/batches/{batch}/similarity/export.csv").data.decode())))
    assert sorted(r["path"] for r in rows) == ["copy-a.jpg", "copy-b.jpg"]
    html = client.get(f"/batches/{batch}/similarity/export.html").data.decode()
    assert "<h2>Files that could not be read</h2><ul><li><code>broken.png</code>:" in html


def test_the_report_zip_links_every_grouped_photos_thumbnail_in_a_folder_beside_it(world, client, app, conn,
                                                                                   monkeypatch):
    from zeuge_lite import report
    from zeuge_lite.storage import Storage
    batch = _two_groups(world, client, "zip@x.org")
    monkeypatch.setattr(report, "MAX_THUMBNAILS", 1)  # the one-file report's limit: not the ZIP's
    storage = Storage(app.config["STORAGE_DIR"])
    grouped = [i for i in queries.items_of_batch(conn, batch) if i["filename"] != "coffee.png"]
    gone = next(i for i in grouped if i["filename"] == "kodak-kodim23.jpg")
    storage.derived_path("thumb", gone["sha256"]).unlink()
    response, chunks = _streamed(client, f"/batches/{batch}/similarity/export.zip")
    assert response.is_streamed and response.mimetype == "application/zip"
    assert "duplicates.zip" in response.headers["Content-Disposition"]
    bundle = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert bundle.testzip() is None
    shown = [i for i in grouped if i is not gone]
    assert sorted(bundle.namelist()) == ["duplicates.html"] + sorted(f"thumbnails/{i['sha256']}.jpg" for i in shown)
    for item in shown:
        thumb = storage.derived_path("thumb", item["sha256"])
        assert bundle.read(f"thumbnails/{item['sha256']}.jpg") == thumb.read_bytes()
    html = bundle.read("duplicates.html").decode()
    assert html.count('<img alt="" loading="lazy" src="thumbnails/') == 3 and "data:image" not in html
    assert "Thumbnails are shown for the first" not in html and "kodak-kodim23.jpg" in html
    assert html.startswith("<!doctype html>") and html.endswith("</body></html>")
