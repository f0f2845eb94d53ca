"""Embedded ICC profiles: what people see (previews, thumbnails) is converted to sRGB by the file's profile
(an Adobe RGB scan, a Display P3 phone photo, a grey scan with its own tone curve); the similarity features keep
the file's own samples; a profile littlecms cannot use is ignored, never a refusal."""
import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageCms

from zeuge_lite import queries
from zeuge_lite.similarity.decode import decode_rgb, open_image
from zeuge_lite.storage import Storage

# sRGB's primaries adapted to D50, as in its ICC profile; swapping red and blue makes a profile whose "red"
# samples are blue light: a test that cannot pass if the profile is ignored.
SRGB_RED, SRGB_GREEN, SRGB_BLUE = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)
D50 = (0.9642, 1.0, 0.8249)


def _s15(value):
    return struct.pack(">i", round(value * 65536))


def _xyz(values):
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in values)


def _curve(gamma):
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"


def _text(kind, value):
    if kind == "desc":
        ascii_ = value.encode() + b"\0"
        return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_ + b"\0" * 8 + b"\0\0\0" + b"\0" * 67
    return b"text\0\0\0\0" + value.encode() + b"\0"


def _profile(space, tags):
    """A minimal ICC v2 display profile (matrix/TRC or grey TRC) as bytes."""
    table, body, offset = [], b"", 128 + 4 + 12 * len(tags)
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table.append(struct.pack(">4sII", signature.encode(), offset + len(body), len(data)))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I4sI4s4s4s", size, b"\0\0\0\0", 0x02100000, b"mntr", space.encode(), b"XYZ ")
              + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0) + b"".join(_s15(v) for v in D50))
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + b"".join(table) + body


def swapped_rgb_profile():
    """An RGB profile whose red and blue primaries are sRGB's blue and red."""
    return _profile("RGB ", [("desc", _text("desc", "red-blue swapped")), ("cprt", _text("text", "test")),
                             ("wtpt", _xyz(D50)), ("rXYZ", _xyz(SRGB_BLUE)), ("gXYZ", _xyz(SRGB_GREEN)),
                             ("bXYZ", _xyz(SRGB_RED)), ("rTRC", _curve(2.2)), ("gTRC", _curve(2.2)),
                             ("bTRC", _curve(2.2))])


def linear_grey_profile():
    """A grey profile with a linear tone curve (gamma 1): its mid grey is lighter in sRGB."""
    return _profile("GRAY", [("desc", _text("desc", "linear grey")), ("cprt", _text("text", "test")),
                             ("wtpt", _xyz(D50)), ("kTRC", _curve(1.0))])


def _encoded(image, fmt, **args):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **args)
    return buffer.getvalue()


def _red(size=(600, 400)):
    return Image.new("RGB", size, (220, 30, 30))


def _mean(image):
    return np.asarray(image.convert("RGB"), np.float64).reshape(-1, 3).mean(axis=0)


def test_the_test_profiles_are_profiles_littlecms_reads():
    assert ImageCms.ImageCmsProfile(io.BytesIO(swapped_rgb_profile())).profile.xcolor_space == "RGB "
    assert ImageCms.ImageCmsProfile(io.BytesIO(linear_grey_profile())).profile.xcolor_space == "GRAY"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "WEBP"])
def test_a_preview_shows_the_colours_the_profile_means(fmt):
    data = _encoded(_red(), fmt, icc_profile=swapped_rgb_profile(), **({"quality": 95} if fmt != "PNG" else {}))
    shown = decode_rgb(open_image(data, 10**8), 256, for_display=True)
    red, _green, blue = _mean(shown)
    assert shown.size == (256, 171) and shown.mode == "RGB"
    assert blue > 180 and red < 60  # the file's "red" samples are blue light in its profile


def test_the_features_keep_the_files_own_samples():
    tagged = _encoded(_red(), "PNG", icc_profile=swapped_rgb_profile())
    plain = _encoded(_red(), "PNG")
    analysed = decode_rgb(open_image(tagged, 10**8), 320)
    assert np.array_equal(np.asarray(analysed), np.asarray(decode_rgb(open_image(plain, 10**8), 320)))
    assert _mean(analysed)[0] > 180


def test_a_grey_scan_is_shown_through_its_tone_curve():
    grey = Image.new("L", (300, 200), 100)
    shown = decode_rgb(open_image(_encoded(grey, "PNG", icc_profile=linear_grey_profile()), 10**8), 256,
                       for_display=True)
    untagged = decode_rgb(open_image(_encoded(grey, "PNG"), 10**8), 256, for_display=True)
    assert _mean(untagged)[0] == pytest.approx(100, abs=1)
    assert _mean(shown)[0] > 150  # linear 100/255 is about 170 in sRGB's curve
    assert np.ptp(_mean(shown)) < 3  # still grey


def test_a_cmyk_scan_is_shown_through_its_cmyk_profile():
    """libvips' built-in CMYK profile (a real press profile) makes the CMYK JPEG, as a prepress workflow would."""
    import pyvips
    blue = (40, 110, 200)
    srgb = (pyvips.Image.black(300, 200, bands=3) + list(blue)).cast("uchar").copy(interpretation="srgb")
    data = srgb.icc_transform("cmyk", input_profile="srgb").jpegsave_buffer(Q=95)
    image = open_image(data, 10**8)
    assert image.mode == "CMYK" and image.info.get("icc_profile")
    shown = _mean(decode_rgb(image, 256, for_display=True))
    naive = _mean(decode_rgb(open_image(data, 10**8), 256))  # Pillow's conversion without the profile
    assert np.linalg.norm(shown - blue) < 35 < 55 < np.linalg.norm(naive - blue)


@pytest.mark.parametrize("profile", [b"not a profile at all", swapped_rgb_profile()[:200],
                                     linear_grey_profile()])  # the last: a grey profile on an RGB image
def test_a_profile_that_cannot_be_used_is_ignored(profile):
    data = _encoded(_red(), "PNG", icc_profile=profile)
    shown = decode_rgb(open_image(data, 10**8), 256, for_display=True)
    plain = decode_rgb(open_image(_encoded(_red(), "PNG"), 10**8), 256, for_display=True)
    assert np.array_equal(np.asarray(shown), np.asarray(plain))


def test_an_uploaded_scan_gets_its_thumbnail_and_preview_in_srgb(world, app, conn):
    _user, archive = world.user("colour@x.org")
    world.login("colour@x.org")
    batch = world.batch(archive)
    result, = world.upload(batch, ("scan.jpg", _encoded(_red(), "JPEG", quality=95,
                                                         icc_profile=swapped_rgb_profile())))
    assert result["status"] == "added", result["message"]
    item = queries.items_of_batch(conn, batch)[0]
    storage = Storage(app.config["STORAGE_DIR"])
    for kind in ("thumb", "preview"):
        red, _green, blue = _mean(Image.open(storage.derived_path(kind, item["sha256"])))
        assert blue > 180 and red < 60, kind
    original = world.client.get(f"/items/{item['id']}/original")
    assert Image.open(io.BytesIO(original.data)).info.get("icc_profile") == swapped_rgb_profile()
