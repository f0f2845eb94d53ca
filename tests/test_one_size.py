"""One truth for size and orientation: width x height as displayed (after EXIF orientation) on the item page,
in keep-best reasons, both duplicates.json and the export manifests (the groups CSV carries no size); the
stored orientation shown."""
import csv
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from zeuge_lite import queries
from zeuge_lite.db import connect, migrate
from zeuge_lite.schema import DISPLAYED_SIZE, MIGRATIONS, TIFF_TURNED_SIZE
from zeuge_lite.tasks import huey

ROTATED = Path(__file__).parent / "corpus" / "pentax-rotated.jpg"  # stored 240 x 160, orientation 6


@pytest.fixture
def rotated(world, client, conn):
    huey.immediate = True
    archive, batch = world.own_batch("size@x.org")
    data = ROTATED.read_bytes()
    world.upload(batch, ("rotated.jpg", data), ("copy.jpg", data + b"\0"))  # same pixels, another file
    client.post(f"/batches/{batch}/similarity/run")
    yield batch, {i["filename"]: i for i in queries.items_of_batch(conn, batch)}
    huey.immediate = False


def test_every_web_output_says_the_displayed_size(client, rotated):
    batch, items = rotated
    item = items["rotated.jpg"]
    assert (item["width"], item["height"], item["orientation"]) == (160, 240, 6)
    page = client.get(f"/items/{item['id']}").get_data(as_text=True)
    assert "160 × 240" in page and "6 (turned 90° clockwise)" in page
    report = client.get(f"/batches/{batch}/similarity/export.json").get_json()
    sizes = {(i["width"], i["height"]) for g in report["groups"] for i in g["items"]}
    assert sizes == {(160, 240)}
    key = "-".join(str(i["id"]) for i in sorted(items.values(), key=lambda i: i["id"]))
    card = client.get(f"/batches/{batch}/similarity/group/{key}").get_data(as_text=True)
    assert "160×240" in card and "240×160" not in card
    bundle = zipfile.ZipFile(io.BytesIO(client.get(f"/batches/{batch}/export.zip").data))
    row = next(csv.DictReader(io.StringIO(bundle.read("manifest.csv").decode())))
    assert (row["width"], row["height"], row["orientation"]) == ("160", "240", "6")
    manifest = json.loads(bundle.read("manifest.json"))["items"][0]
    assert (manifest["width"], manifest["height"]) == (160, 240)


def test_the_scan_agrees(runner, tmp_path):
    (tmp_path / "in").mkdir()
    shutil.copy(ROTATED, tmp_path / "in" / "a.jpg")
    (tmp_path / "in" / "b.jpg").write_bytes(ROTATED.read_bytes() + b"\0")
    assert runner.invoke(args=["zeuge", "scan", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                               "--workers", "1"]).exit_code == 0
    report = json.loads((tmp_path / "out" / "duplicates.json").read_text())
    assert {(i["width"], i["height"]) for i in report["groups"][0]["items"]} == {(160, 240)}


def test_files_stored_before_get_their_displayed_size(tmp_path):
    conn = connect(str(tmp_path / "old.sqlite3"))
    before = MIGRATIONS.index(DISPLAYED_SIZE)
    for script in MIGRATIONS[:before]:
        conn.executescript(script)
    conn.execute(f"PRAGMA user_version={before}")
    conn.executemany("INSERT INTO files (sha256, size, ext, format, mode, width, height, orientation) "
                     "VALUES (?, 1, 'jpg', 'JPEG', 'RGB', 240, 160, ?)", [("a", 6), ("b", 3), ("c", None)])
    conn.commit()
    migrate(conn)
    assert [tuple(r) for r in conn.execute("SELECT sha256, width, height FROM files ORDER BY sha256")] == \
        [("a", 160, 240), ("b", 240, 160), ("c", 240, 160)]
    conn.close()


def _turned_tiff(orientation):
    """A 768 x 512 picture stored as 512 x 768 pixels with TIFF orientation 6 (or 8): shown 768 x 512."""
    from PIL import Image, TiffImagePlugin
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[274] = orientation
    picture = Image.linear_gradient("L").resize((768, 512)).convert("RGB")
    stored = picture.transpose(Image.Transpose.ROTATE_90 if orientation == 6 else Image.Transpose.ROTATE_270)
    buffer = io.BytesIO()
    stored.save(buffer, "TIFF", tiffinfo=tags, compression="tiff_lzw")
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", [6, 8])
def test_a_turned_tiff_says_the_size_it_is_shown_at(world, conn, runner, tmp_path, orientation):
    """Pillow reports a TIFF's size already turned (and turns its pixels as it loads them): turning it again
    said 512 x 768 for a picture shown 768 x 512."""
    _archive, batch = world.own_batch(f"tiff{orientation}@x.org")
    data = _turned_tiff(orientation)
    world.upload(batch, ("turned.tif", data))
    item = queries.items_of_batch(conn, batch)[0]
    assert (item["width"], item["height"], item["orientation"]) == (768, 512, orientation)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.tif").write_bytes(data)
    (tmp_path / "in" / "b.tif").write_bytes(data + b"\0")
    assert runner.invoke(args=["zeuge", "scan", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                               "--workers", "1"]).exit_code == 0
    report = json.loads((tmp_path / "out" / "duplicates.json").read_text())
    assert {(i["width"], i["height"]) for i in report["groups"][0]["items"]} == {(768, 512)}


def test_turned_tiffs_stored_before_get_their_displayed_size(tmp_path):
    conn = connect(str(tmp_path / "old.sqlite3"))
    before = MIGRATIONS.index(TIFF_TURNED_SIZE)
    for script in MIGRATIONS[:before]:
        conn.executescript(script)
    conn.execute(f"PRAGMA user_version={before}")
    conn.executemany("INSERT INTO files (sha256, size, ext, format, mode, width, height, orientation) "
                     "VALUES (?, 1, ?, ?, 'RGB', 512, 768, ?)",
                     [("a", "tif", "TIFF", 6), ("b", "tif", "TIFF", 1), ("c", "jpg", "JPEG", 6)])
    conn.commit()
    migrate(conn)
    assert [tuple(r) for r in conn.execute("SELECT sha256, width, height FROM files ORDER BY sha256")] == \
        [("a", 768, 512), ("b", 512, 768), ("c", 512, 768)]
    conn.close()
