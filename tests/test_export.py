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
