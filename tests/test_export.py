"""Batch export: originals in batch order with a manifest."""
import csv
import io
import json
import zipfile

from tests.conftest import image_bytes


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
