"""Formats archives receive: AVIF and JPEG XL like any other, multi-page TIFFs say which page is compared, and
`flask zeuge scan` lists every file it did not analyse with the reason."""
import io
import json

import pytest
from PIL import Image

from zeuge_lite import queries
from zeuge_lite.demo import PHOTOS_DIR
from zeuge_lite.similarity.decode import ACCEPTED_FORMATS, open_image
from zeuge_lite.storage import Storage


def _photo(size=(192, 128)):
    return Image.open(PHOTOS_DIR / "kodak-kodim05.png").convert("RGB").resize(size)


def _encode(image, fmt, **args):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **args)
    return buffer.getvalue()


@pytest.fixture
def batch(world):
    _user, archive = world.user("formats@x.org")
    world.login("formats@x.org")
    return world.batch(archive)


@pytest.mark.parametrize("fmt, ext, mimetype", [("AVIF", "avif", "image/avif"), ("JXL", "jxl", "image/jxl")])
def test_avif_and_jpeg_xl_are_accepted_with_thumbnail_and_original(world, batch, app, conn, fmt, ext, mimetype):
    assert fmt in ACCEPTED_FORMATS
    result, = world.upload(batch, (f"photo.{ext}", _encode(_photo(), fmt, quality=80)))
    assert result["status"] == "added", result["message"]
    item = queries.items_of_batch(conn, batch)[0]
    assert (item["format"], item["ext"], item["width"], item["height"]) == (fmt, ext, 192, 128)
    thumb = Image.open(Storage(app.config["STORAGE_DIR"]).derived_path("thumb", item["sha256"]))
    assert thumb.size[0] > 0 and max(thumb.getextrema()[0]) > 0
    original = world.client.get(f"/items/{item['id']}/original")
    assert original.status_code == 200 and original.mimetype == mimetype


def test_a_refusal_names_the_formats_accepted(world, batch):
    result, = world.upload(batch, ("x.bmp", _encode(_photo(), "BMP")))
    assert "BMP files are not accepted; use JPEG, PNG, TIFF, WebP, GIF, AVIF" in result["message"]
    assert "JPEG XL" in result["message"]


def test_a_multi_page_tiff_says_how_many_pages_and_which_is_compared(world, batch, conn):
    pages = [_photo(), _photo().rotate(90, expand=True), Image.new("RGB", (50, 50), "white")]
    data = _encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    assert open_image(data, 10**8).n_frames == 3
    result, = world.upload(batch, ("letters.tif", data))
    item = queries.items_of_batch(conn, batch)[0]
    assert item["frames"] == 3 and (item["width"], item["height"]) == (192, 128)
    page = world.client.get(f"/items/{result['item_id']}").get_data(as_text=True)
    assert "3 pages or frames; page 1 is shown and compared" in page


def test_scan_lists_every_file_it_did_not_analyse_with_the_reason(runner, tmp_path):
    root = tmp_path / "in"
    (root / ".thumbs").mkdir(parents=True)
    photo = _photo()
    (root / "a.avif").write_bytes(_encode(photo, "AVIF", quality=80))
    (root / "a.jxl").write_bytes(_encode(photo, "JXL", quality=90))
    (root / "pages.tif").write_bytes(_encode(photo, "TIFF", save_all=True, append_images=[photo.rotate(90)]))
    (root / "notes.txt").write_text("a list of boxes")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    (root / ".thumbs" / "a.jpg").write_bytes(_encode(photo, "JPEG"))
    result = runner.invoke(args=["zeuge", "scan", str(root), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "3 photos" in result.output and "1 unreadable files, 2 other files not analysed" in result.output
    report = json.loads((tmp_path / "out" / "duplicates.json").read_text())
    assert report["items"] == 3
    skipped = {s["path"]: s["reason"] for s in report["skipped"]}
    assert skipped.keys() == {".thumbs/a.jpg", "broken.jpg", "notes.txt"}
    assert skipped["notes.txt"] == "not an image type (.txt)"
    assert skipped[".thumbs/a.jpg"] == "hidden file or folder"
    assert skipped["broken.jpg"].startswith("unreadable: The image data is broken")
    group, = report["groups"]
    members = {i["path"]: i for i in group["items"]}
    assert members.keys() == {"a.avif", "a.jxl", "pages.tif"} and group["kind"] in ("exact", "near")
    assert members["pages.tif"]["pages"] == 2 and "pages" not in members["a.avif"]
    html = (tmp_path / "out" / "duplicates.html").read_text()
    assert "Files not analysed" in html and "notes.txt" in html
