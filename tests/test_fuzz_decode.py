"""Damaged files (truncations and bit flips of valid JPEG, PNG, APNG, TIFF, WebP, GIF and HEIC made with Pillow)
through every door that decodes: the upload endpoint, the analysis (parallel.analyse_file), find-a-photo, and
the libvips path that large images take. Each must answer with the image or a refusal, never an error, and a
refused upload leaves nothing behind.

Reproducible in CI: examples are derandomized (the same ones every run) and no example database is kept.
ZEUGE_FUZZ_SCALE=20 runs twenty times as many, randomized, to hunt locally."""
import io
import os
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from zeuge_lite import queries
from zeuge_lite.similarity import decode, parallel
from zeuge_lite.similarity.decode import (
    ImageRejected,
    decode_rgb,
    image_info,
    open_image,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about each damaged tag
SCALE = int(os.environ.get("ZEUGE_FUZZ_SCALE", "1"))


def fuzz_settings(examples):
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=SCALE == 1, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _encode(image, fmt, **args):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **args)
    return buffer.getvalue()


def _picture(size=(48, 32), mode="RGB"):
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((20, 20, 160), (0, 0, size[0] // 2, size[1] // 2))
    return image.convert(mode)


@cache
def seeds():
    """Valid small files of every accepted format, with the features that have their own code paths."""
    exif = Image.Exif()
    exif[0x0112], exif[0x010F] = 6, "Acme"
    exif.get_ifd(0x8769)[0x9003] = "1931:05:17 10:20:00"
    frames = [_picture((20, 20)), _picture((20, 20)).rotate(90)]
    return {
        "jpeg": _encode(_picture(), "JPEG", exif=exif, quality=80),
        "jpeg-progressive": _encode(_picture(), "JPEG", progressive=True),
        "png": _encode(_picture(), "PNG", exif=exif),
        "png-palette-alpha": _encode(_picture(mode="RGBA").convert("P"), "PNG", transparency=0),
        "png-16bit": _encode(_picture(mode="L").convert("I;16"), "PNG"),
        "apng": _encode(frames[0], "PNG", save_all=True, append_images=frames[1:]),
        "tiff": _encode(_picture(), "TIFF", dpi=(300, 300), exif=exif),
        "tiff-lzw-pages": _encode(frames[0], "TIFF", compression="tiff_lzw", save_all=True,
                                  append_images=frames[1:]),
        "webp": _encode(_picture(), "WEBP", quality=80),
        "webp-lossless-alpha": _encode(_picture(mode="RGBA"), "WEBP", lossless=True),
        "gif": _encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "heic": _encode(_picture(), "HEIF", quality=60),
    }


@st.composite
def damaged_files(draw):
    """(seed name, bytes): a seed cut short, with up to four bits flipped (half of them in the header)."""
    name = draw(st.sampled_from(sorted(seeds())))
    data = bytearray(seeds()[name])
    if draw(st.booleans()):
        data = data[:draw(st.integers(1, len(data) - 1))]
    flips = draw(st.lists(st.tuples(st.one_of(st.integers(0, 63), st.integers(0, len(data) - 1)),
                                    st.integers(0, 7)), max_size=4))
    for position, bit in flips:
        data[position % len(data)] ^= 1 << bit
    return name, bytes(data)


def test_the_seeds_are_valid_in_every_format():
    """The fuzzer starts from real files: each one is added as it is."""
    for name, data in seeds().items():
        assert decode_rgb(open_image(data, 10**6), 320).mode == "RGB", name


@pytest.fixture
def batch(world):
    _user, archive = world.user("fuzz@x.org")
    world.login("fuzz@x.org")
    return world.batch(archive)


def _stored_files(app):
    root = Path(app.config["STORAGE_DIR"])
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


@fuzz_settings(300)
@given(sample=damaged_files())
def test_damaged_upload_is_added_or_refused_with_a_reason_and_a_refusal_leaves_nothing(world, batch, app, conn,
                                                                                       sample):
    _name, data = sample
    files_before = _stored_files(app)
    items_before = len(queries.items_of_batch(conn, batch))
    result, = world.upload(batch, ("damaged.img", data))  # world.upload asserts the answer is a 200
    files_after = _stored_files(app)
    assert not [p for p in files_after if p.suffix == ".part"]
    assert result["status"] in ("added", "refused", "duplicate"), result
    if result["status"] == "refused":
        assert result["message"]
        assert files_after == files_before
        assert len(queries.items_of_batch(conn, batch)) == items_before
    elif result["status"] == "added":
        assert len(files_after - files_before) == 3  # original, preview, thumbnail


@pytest.fixture
def analysis_settings(app):
    parallel._init_worker(app.config["MODEL"], app.config["MODEL_DIR"], app.config["MAX_IMAGE_PIXELS"], 64, True)


@fuzz_settings(200)
@given(sample=damaged_files())
def test_damaged_file_in_the_analysis_gives_features_or_an_error_never_raises(analysis_settings, tmp_path, sample):
    _name, data = sample
    path = tmp_path / "damaged.img"
    path.write_bytes(data)
    _path, sha256, features, error = parallel.analyse_file(path)
    assert sha256
    assert (features is None) != (error is None)
    if features is not None:
        assert features.vectors.shape[0] >= 2 and features.width > 0


@fuzz_settings(100)
@given(sample=damaged_files())
def test_damaged_photo_in_find_a_photo_is_searched_or_refused_never_an_error(world, batch, client, sample):
    _name, data = sample
    response = client.post(f"/batches/{batch}/find", data={"photo": (io.BytesIO(data), "outside.img")},
                           content_type="multipart/form-data")
    assert response.status_code in (200, 422), response.status_code


@fuzz_settings(300)
@given(sample=damaged_files())
def test_damaged_file_on_the_large_image_path_decodes_or_is_refused(monkeypatch, sample):
    """The libvips (and large-HEIC) path, as a 100 MP scan takes it, on small damaged files."""
    monkeypatch.setattr(decode, "PILLOW_MAX_PIXELS", 0)
    _name, data = sample
    try:
        image = open_image(data, 10**6)
        image_info(image)
        rgb = decode_rgb(image, 320)
    except ImageRejected as exc:
        assert str(exc)
        return
    assert rgb.mode == "RGB" and max(rgb.size) <= 320
