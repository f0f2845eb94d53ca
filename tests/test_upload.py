"""Uploads: accepted formats and modes, refusals with a reason, exact duplicates, the batch stays intact."""
import io
import struct
import warnings
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests.conftest import image_bytes
from zeuge_lite import queries
from zeuge_lite.storage import Storage


@pytest.fixture
def batch(world):
    _user, archive = world.user("up@x.org")
    world.login("up@x.org")
    return world.batch(archive)


def _encode(image, fmt, **args):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **args)
    return buffer.getvalue()


def _thumb(app, conn, item_id):
    sha = conn.execute("SELECT sha256 FROM items WHERE id = ?", (item_id,)).fetchone()[0]
    return Image.open(Storage(app.config["STORAGE_DIR"]).derived_path("thumb", sha))


def test_good_files_land_and_bad_ones_are_refused_one_by_one(world, batch, conn):
    good = image_bytes("JPEG")
    truncated = image_bytes("JPEG", size=(400, 300))[:600]
    results = world.upload(batch, ("a.jpg", good), ("notes.jpg", b"this is plain text, not a photo"),
                           ("empty.jpg", b""), ("cut.jpg", truncated), ("b.png", image_bytes("PNG")))
    by_name = {r["filename"]: r for r in results}
    assert [by_name[n]["status"] for n in ("a.jpg", "notes.jpg", "empty.jpg", "cut.jpg", "b.png")] == \
        ["added", "refused", "refused", "refused", "added"]
    assert "not an image" in by_name["notes.jpg"]["message"]
    assert "empty" in by_name["empty.jpg"]["message"]
    assert "truncated" in by_name["cut.jpg"]["message"]
    assert [i["filename"] for i in queries.items_of_batch(conn, batch)] == ["a.jpg", "b.png"]


def test_no_file_at_all_is_a_clear_refusal(world, batch):
    response = world.client.post(f"/batches/{batch}/upload", data={}, headers={"Accept": "application/json"})
    assert response.get_json()["results"][0]["message"] == "No file was sent."


def test_over_limit_file_is_refused(world, batch, app, conn):
    app.config["MAX_FILE_BYTES"] = 1000
    results = world.upload(batch, ("big.png", image_bytes("PNG", size=(300, 300), mode="L", color=128)
                                   + b"\0" * 2000))
    assert results[0]["status"] == "refused" and "limit" in results[0]["message"]
    assert queries.items_of_batch(conn, batch) == []


def test_decompression_bomb_is_refused_without_decoding(world, batch, conn):
    png = image_bytes("PNG", size=(10, 10), mode="L", color=128)
    # Rewrite the IHDR to declare 50,000 x 50,000 pixels (CRC fixed), as a bomb does.
    import zlib
    ihdr = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 0, 0, 0, 0)
    bomb = png[:16] + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr)) + png[33:]
    results = world.upload(batch, ("bomb.png", bomb))
    assert results[0]["status"] == "refused" and "decompression bomb" in results[0]["message"]
    assert queries.items_of_batch(conn, batch) == []


def test_wrong_format_is_refused_with_reason(world, batch):
    results = world.upload(batch, ("x.bmp", image_bytes("BMP")))
    assert results[0]["status"] == "refused" and "BMP files are not accepted" in results[0]["message"]


def test_a_cut_tiff_says_it_is_a_broken_tiff_not_another_kind_of_file(world, batch):
    """A TIFF cut in half (its directory is at the end) cannot be opened at all: it used to be refused as "not an
    image file we can read", which reads as a wrong format to an archivist holding a TIFF."""
    tiff = image_bytes("TIFF", size=(200, 150), compression="tiff_lzw")
    results = world.upload(batch, ("cut.tif", tiff[:len(tiff) // 2]), ("notes.jpg", b"just some text, no picture"))
    assert results[0]["status"] == "refused" and "looks like a TIFF file, but it is broken or truncated" in \
        results[0]["message"], results[0]
    assert "not an image file we can read" in results[1]["message"]


@pytest.mark.parametrize("head, kind", [(b"\xff\xd8\xff\xe0", "JPEG"), (b"\x89PNG\r\n", "PNG"),
                                        (b"MM\x00*\x00\x00", "TIFF"), (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "WebP"),
                                        (b"\x00\x00\x00\x1cftypheic", "HEIC"), (b"\x00\x00\x00\x1cftypavif", "AVIF"),
                                        (b"\xff\x0a\xfa", "JPEG XL"), (b"BM", None), (b"hello", None)])
def test_file_signatures(head, kind):
    from zeuge_lite.similarity.decode import signature_format
    assert signature_format(head) == kind


def test_a_damaged_exif_block_does_not_flood_the_log_with_warnings(world, batch):
    """An IFD claiming 5,000 tags with offsets past the end: Pillow warned once per tag (thousands of lines over
    a scan's progress and in the server log); the file is added as before."""
    jpeg = image_bytes("JPEG", size=(64, 48))
    count = 5000
    entries = b"".join(struct.pack("<HHII", 0x9000 + n % 4000, 7, 0x10000000, 0x20) for n in range(count))
    exif = (b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + struct.pack("<H", count) + entries)[:65000]
    damaged = jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + jpeg[2:]
    with warnings.catch_warnings(record=True) as caught:  # the filters in force stay (recwarn would show all)
        results = world.upload(batch, ("damaged-exif.jpg", damaged))
    assert results[0]["status"] == "added", results[0]
    assert not [w for w in caught if "Tag data" in str(w.message) or "corrupt EXIF" in str(w.message)]


def test_same_file_twice_is_an_exact_duplicate_not_a_second_item(world, batch, conn):
    data = image_bytes("PNG")
    first, = world.upload(batch, ("one.png", data))
    second, = world.upload(batch, ("copy.png", data))
    assert second["status"] == "duplicate" and "one.png" in second["message"]
    assert second["item_id"] == first["item_id"]
    assert len(queries.items_of_batch(conn, batch)) == 1


def test_cmyk_jpeg_sixteen_bit_and_alpha_are_converted_correctly(world, batch, app, conn):
    gradient16 = Image.fromarray(np.tile(np.linspace(0, 65535, 64), (32, 1)).astype(np.uint16))
    rgba = Image.new("RGBA", (40, 40), (255, 0, 0, 0))  # fully transparent: must come out white
    files = [("cmyk.jpg", _encode(Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG")),
             ("gray16.png", _encode(gradient16, "PNG")),
             ("gray16.tif", _encode(gradient16, "TIFF")),
             ("alpha.png", _encode(rgba, "PNG"))]
    results = {r["filename"]: r for r in world.upload(batch, *files)}
    assert all(r["status"] == "added" for r in results.values()), results
    red = _thumb(app, conn, results["cmyk.jpg"]["item_id"]).getpixel((20, 20))
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
    gray = _thumb(app, conn, results["gray16.png"]["item_id"])
    assert gray.getpixel((0, 16))[0] < 20 and gray.getpixel((63, 16))[0] > 235  # scaled, not clipped white
    assert _thumb(app, conn, results["alpha.png"]["item_id"]).getpixel((20, 20)) == (255, 255, 255)
    row = conn.execute("SELECT bit_depth FROM files JOIN items USING (sha256) WHERE items.id = ?",
                       (results["gray16.tif"]["item_id"],)).fetchone()
    assert row["bit_depth"] == 16


def test_exif_rotated_jpeg_gets_an_upright_thumbnail_and_exif_is_recorded(world, batch, app, conn):
    image = Image.new("RGB", (80, 40), (255, 255, 255))
    image.paste((0, 0, 0), (0, 0, 40, 40))  # left half black as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90° clockwise
    exif[0x010F], exif[0x0110] = "Acme", "Scanner 9"
    exif.get_ifd(0x8769)[0x9003] = "1931:05:17 10:20:00"
    item_id = world.upload(batch, ("turned.jpg", _encode(image, "JPEG", exif=exif)))[0]["item_id"]
    thumb = _thumb(app, conn, item_id)
    assert thumb.size[1] > thumb.size[0]  # portrait after applying the orientation
    assert thumb.getpixel((20, 5))[0] < 50 and thumb.getpixel((20, 75))[0] > 200  # black half now on top
    row = conn.execute("SELECT * FROM files JOIN items USING (sha256) WHERE items.id = ?", (item_id,)).fetchone()
    assert (row["orientation"], row["camera"], row["taken_at"]) == (6, "Acme Scanner 9", "1931-05-17 10:20:00")


def test_multipage_tiff_and_animated_gif_use_the_first_page(world, batch, app, conn):
    pages = [Image.new("RGB", (30, 30), c) for c in ((0, 0, 255), (255, 0, 0))]
    tiff = _encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    gif = _encode(pages[0], "GIF", save_all=True, append_images=pages[1:])
    results = world.upload(batch, ("pages.tif", tiff), ("anim.gif", gif))
    for result in results:
        assert result["status"] == "added"
        pixel = _thumb(app, conn, result["item_id"]).getpixel((15, 15))
        assert pixel[2] > 200 and pixel[0] < 60
    frames = conn.execute("SELECT frames FROM files JOIN items USING (sha256) WHERE items.id = ?",
                          (results[0]["item_id"],)).fetchone()[0]
    assert frames == 2


def test_original_is_stored_untouched(world, batch, client):
    data = image_bytes("JPEG", size=(50, 50))
    item_id = world.upload(batch, ("orig.jpg", data))[0]["item_id"]
    assert client.get(f"/items/{item_id}/original").data == data


def test_viewer_cannot_upload(world, conn, client):
    _owner, archive = world.user("owner@x.org")
    viewer, _own = world.user("viewer@x.org")
    queries.add_member(conn, archive, viewer, "viewer")
    batch = world.batch(archive)
    world.login("viewer@x.org")
    response = client.post(f"/batches/{batch}/upload", data={"files": [(io.BytesIO(image_bytes()), "a.jpg")]})
    assert response.status_code == 403
    assert client.get(f"/batches/{batch}/items").status_code == 200


def test_sharpness_is_recorded_at_upload_from_the_same_decode(world, batch, conn):
    from PIL import ImageFilter
    from zeuge_lite.demo import PHOTOS_DIR
    photo = Image.open(PHOTOS_DIR / "kodak-kodim05.png").convert("RGB")
    results = world.upload(batch, ("sharp.png", _encode(photo, "PNG")),
                           ("soft.png", _encode(photo.filter(ImageFilter.GaussianBlur(2)), "PNG")))
    value = {r["filename"]: conn.execute("SELECT sharpness FROM files JOIN items USING (sha256) WHERE items.id = ?",
                                         (r["item_id"],)).fetchone()[0] for r in results}
    assert value["sharp.png"] > 2 * value["soft.png"] > 0


# Disk full: real ENOSPC is hard to make in CI, so the one write seam (storage.write_bytes) fails as it would.

def _disk_fills_up_after(monkeypatch, writes_that_succeed):
    import errno

    from zeuge_lite import storage as storage_module
    real, done = storage_module.write_bytes, [0]

    def write_bytes(handle, data):
        if done[0] >= writes_that_succeed:
            handle.write(data[: len(data) // 2])  # a half-written .part file, as a full disk leaves it
            raise OSError(errno.ENOSPC, "No space left on device")
        done[0] += 1
        real(handle, data)

    monkeypatch.setattr(storage_module, "write_bytes", write_bytes)


def _files_under(app):
    from pathlib import Path
    root = Path(app.config["STORAGE_DIR"])
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize("writes_that_succeed", [0, 1, 2])  # preview, thumbnail, original
def test_a_full_disk_answers_507_and_leaves_no_row_no_file_no_part(world, batch, app, conn, monkeypatch,
                                                                  writes_that_succeed):
    world.upload(batch, ("first.png", image_bytes("PNG")))
    files_before = _files_under(app)
    _disk_fills_up_after(monkeypatch, writes_that_succeed)
    response = world.client.post(f"/batches/{batch}/upload",
                                 data={"files": [(io.BytesIO(image_bytes("JPEG")), "second.jpg")]},
                                 headers={"Accept": "application/json"}, content_type="multipart/form-data")
    assert response.status_code == 507
    result, = response.get_json()["results"]
    assert result["status"] == "refused" and result["filename"] == "second.jpg"
    assert "disk is full; nothing was saved" in result["message"]
    assert _files_under(app) == files_before
    assert [i["filename"] for i in queries.items_of_batch(conn, batch)] == ["first.png"]


def test_a_full_database_is_a_full_disk_too_and_the_written_files_go_again(world, batch, app, conn, monkeypatch):
    import sqlite3

    def full(*_args):
        error = sqlite3.OperationalError("database or disk is full")
        error.sqlite_errorcode = 13
        raise error

    monkeypatch.setattr(queries, "add_item", full)
    response = world.client.post(f"/batches/{batch}/upload",
                                 data={"files": [(io.BytesIO(image_bytes("PNG")), "a.png")]},
                                 headers={"Accept": "application/json"}, content_type="multipart/form-data")
    assert response.status_code == 507
    assert _files_under(app) == []
    assert conn.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 0


def test_a_full_disk_stops_a_many_file_upload_and_says_so_per_file(world, batch, app, conn, monkeypatch):
    _disk_fills_up_after(monkeypatch, 3)  # the first file lands whole
    files = [("a.png", image_bytes("PNG")), ("b.jpg", image_bytes("JPEG")), ("c.gif", image_bytes("GIF"))]
    response = world.client.post(f"/batches/{batch}/upload",
                                 data={"files": [(io.BytesIO(d), n) for n, d in files]},
                                 headers={"Accept": "application/json"}, content_type="multipart/form-data")
    assert response.status_code == 507
    results = response.get_json()["results"]
    assert [(r["filename"], r["status"]) for r in results] == [("a.png", "added"), ("b.jpg", "refused"),
                                                               ("c.gif", "refused")]
    assert "Not tried" in results[2]["message"]
    assert [i["filename"] for i in queries.items_of_batch(conn, batch)] == ["a.png"]


def test_the_upload_form_without_javascript_shows_the_full_disk_too(world, batch, monkeypatch):
    _disk_fills_up_after(monkeypatch, 0)
    response = world.client.post(f"/batches/{batch}/upload",
                                 data={"files": [(io.BytesIO(image_bytes("PNG")), "a.png")]},
                                 content_type="multipart/form-data")
    assert response.status_code == 507
    assert "disk is full" in response.get_data(as_text=True)


def test_start_up_sweeps_old_part_files_but_not_one_being_written(app, tmp_path):
    import os
    import time

    from zeuge_lite import create_app
    folder = tmp_path / "storage" / "originals" / "ab"
    folder.mkdir(parents=True)
    old, fresh, kept = folder / "tmpold.part", folder / "tmpnew.part", folder / ("ab" * 32 + ".jpg")
    for path in (old, fresh, kept):
        path.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(kept, (an_hour_ago, an_hour_ago))
    create_app({**app.config, "TESTING": True})
    assert not old.exists()
    assert fresh.exists() and kept.exists()


# File names: one sanitiser at ingest; exports and downloads also survive names stored before it.

def test_a_200000_character_name_is_cut_to_255_bytes_keeping_the_extension_and_the_zip_works(world, batch):
    name = "Ä" * 200_000 + ".jpg"
    result, = world.upload(batch, (name, image_bytes("JPEG")))
    assert result["status"] == "added"
    assert len(result["filename"].encode()) <= 255 and result["filename"].endswith("Ä.jpg")
    response = world.client.get(f"/batches/{batch}/export.zip")
    assert response.status_code == 200
    member, = [n for n in zipfile.ZipFile(io.BytesIO(response.data)).namelist() if n.endswith(".jpg")]
    assert len(member.encode()) <= 255 and member.startswith("0001_Ä")


def test_nul_control_and_bidi_characters_are_stripped_and_the_download_works(world, batch, client):
    data = image_bytes("PNG")
    name = "in\x00voice\u202egnp.exe\u2066\x07\u200f.png"
    result, = world.upload(batch, (name, data))
    assert result["filename"] == "invoicegnp.exe.png"
    response = client.get(f"/items/{result['item_id']}/original")
    assert response.status_code == 200 and response.data == data
    assert "invoicegnp.exe.png" in response.headers["Content-Disposition"]


def test_names_stored_before_the_sanitiser_still_export_and_download(world, batch, conn, client):
    data = image_bytes("PNG")
    item_id = world.upload(batch, ("plain.png", data))[0]["item_id"]
    conn.execute("UPDATE items SET filename = ? WHERE id = ?", ("x\x00y\u202e" + "z" * 200_000 + ".png", item_id))
    conn.commit()
    response = client.get(f"/batches/{batch}/export.zip")
    assert response.status_code == 200
    bundle = zipfile.ZipFile(io.BytesIO(response.data))
    member, = [n for n in bundle.namelist() if n.endswith(".png")]
    assert member.startswith("0001_xyzzz") and len(member.encode()) <= 255
    assert bundle.read(member) == data
    download = client.get(f"/items/{item_id}/original")
    assert download.status_code == 200 and download.data == data
