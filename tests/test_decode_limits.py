"""Resource limits of the one guarded decode: bombs refused before decoding, large scans decoded at reduced size
within the documented memory figure, concurrent large decodes taking turns, both decoders giving one picture."""
import io
import json
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zeuge_lite.demo import PHOTOS_DIR
from zeuge_lite.similarity import budget, decode, vips
from zeuge_lite.similarity.decode import ImageRejected, decode_rgb, open_image

ROOT = Path(__file__).resolve().parent.parent
# 38 bytes: a lossless WebP of 16383 x 15000 flat white pixels. Under the 250 MP limit; Pillow took 12 s and
# 4.8 GB of memory to decode it.
WEBP_BOMB = bytes.fromhex("524946461e000000574542505650384c110000002ffeffa50e07d0fffef7bfff8188e87f0000")
PEAK_RSS_LIMIT_MB = 1024  # README: one upload, even of a 245 MP scan, stays under 1 GB of memory


def png_stream(width, height, label=b"", interlace=False):
    """A valid 8-bit RGB PNG of horizontal bands, written without holding the pixels (so a test can make a
    245 MP scan in a second)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, int(interlace))
    squeeze, parts = zlib.compressobj(9), []
    rows = {}
    for y in range(height):
        shade = (y // 64) % 200
        row = rows.setdefault(shade, b"\x00" + bytes((shade, 255 - shade, 90)) * width)
        parts.append(squeeze.compress(row))
    parts.append(squeeze.flush())
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"tEXt", b"Comment\x00" + label)
            + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))


@pytest.fixture
def batch(world):
    _user, archive = world.user("limits@x.org")
    world.login("limits@x.org")
    return world.batch(archive)


def test_a_tiny_file_declaring_a_huge_image_is_refused_at_once(world, batch, app):
    app.config["MAX_IMAGE_PIXELS"] = 250_000_000  # the default: the bomb is under it
    start = time.perf_counter()
    result, = world.upload(batch, ("bomb.webp", WEBP_BOMB))
    assert time.perf_counter() - start < 1.0
    assert result["status"] == "refused"
    assert "38 bytes but declares 16383×15000 pixels" in result["message"]
    assert "decompression bomb" in result["message"]


def test_find_a_photo_refuses_the_bomb_too(world, batch, client, app):
    app.config["MAX_IMAGE_PIXELS"] = 250_000_000
    start = time.perf_counter()
    response = client.post(f"/batches/{batch}/find", data={"photo": (io.BytesIO(WEBP_BOMB), "bomb.webp")},
                           content_type="multipart/form-data")
    assert time.perf_counter() - start < 1.0
    assert response.status_code == 422
    assert "decompression bomb" in response.get_data(as_text=True)


def test_a_large_scan_is_decoded_at_reduced_size_by_libvips():
    data = png_stream(5000, 4000)
    image = open_image(data, 250_000_000)
    path, cost = decode.decode_plan(image, image.size, 320)
    assert path == "libvips" and cost < 200 * budget.MIB
    rgb = decode_rgb(image, 320)
    assert rgb.size == (320, 256) and rgb.mode == "RGB"


def test_normal_photos_keep_the_pillow_decode_their_features_were_made_with(make_image):
    for fmt in ("JPEG", "PNG", "TIFF", "WEBP"):
        image = open_image(make_image(fmt, size=(4000, 3000)), 250_000_000)
        assert decode.decode_plan(image, image.size, 320)[0] == "pillow", fmt


def _parity_cases():
    photo = Image.open(ROOT / "zeuge_lite" / "demo_photos" / "kodak-kodim05.png").convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    gradient16 = Image.fromarray(np.tile(np.linspace(0, 65535, 256), (192, 1)).astype(np.uint16))
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(photo.size))
    pages = [photo, photo.rotate(180)]
    return {"jpeg-turned": (photo, "JPEG", {"exif": exif, "quality": 95}),
            "png-16bit-gray": (gradient16, "PNG", {}),
            "png-alpha": (rgba, "PNG", {}),
            "tiff-cmyk": (photo.convert("CMYK"), "TIFF", {}),
            "tiff-pages": (photo, "TIFF", {"save_all": True, "append_images": pages[1:]}),
            "webp": (photo, "WEBP", {"quality": 95}),
            "gif": (photo, "GIF", {"save_all": True, "append_images": pages[1:]})}


@pytest.mark.parametrize("case", sorted(_parity_cases()))
def test_libvips_and_pillow_give_the_same_picture(case, monkeypatch):
    """Upright, first page, alpha on white, 16-bit scaled: a large scan looks as a small one of it would."""
    image, fmt, args = _parity_cases()[case]
    buffer = io.BytesIO()
    image.save(buffer, fmt, **args)
    data = buffer.getvalue()
    by_pillow = np.asarray(decode_rgb(open_image(data, 10**8), 160), dtype=np.float64)
    monkeypatch.setattr(decode, "PILLOW_MAX_PIXELS", 0)
    small = open_image(data, 10**8)
    assert decode.decode_plan(small, small.size, 160)[0] == "libvips"
    by_vips = np.asarray(decode_rgb(small, 160), dtype=np.float64)
    assert by_vips.shape == by_pillow.shape
    tolerance = 40 if case == "tiff-cmyk" else 6  # libvips converts CMYK through an ICC profile, Pillow naively
    assert np.abs(by_vips - by_pillow).mean() < tolerance, case


def test_a_decode_whose_estimate_exceeds_the_budget_is_refused_with_the_figures(monkeypatch):
    monkeypatch.setattr(budget, "BUDGET", budget.DecodeBudget(64 * budget.MIB))
    image = open_image(png_stream(5000, 4000, interlace=True), 250_000_000)
    with pytest.raises(ImageRejected, match=r"would need about [\d,]+ MB of memory, more than the 64 MB"):
        decode_rgb(image, 320)


def test_large_decodes_in_one_process_take_turns_small_ones_do_not_wait(monkeypatch):
    monkeypatch.setattr(budget, "BUDGET", budget.DecodeBudget(150 * budget.MIB))
    inside, most = [0], [0]
    lock = threading.Lock()
    real = vips.decode_reduced

    def watched(*args):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.3)
        try:
            return real(*args)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(vips, "decode_reduced", watched)
    large = [png_stream(5000, 4000, label=str(n).encode()) for n in range(2)]  # ~100 MB estimated each
    threads = [threading.Thread(target=lambda d=d: decode_rgb(open_image(d, 10**9), 320)) for d in large]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1
    held = budget.BUDGET
    with held.hold(140 * budget.MIB):  # a small decode still fits beside a large one
        assert decode_rgb(open_image(png_stream(400, 300), 10**9), 320).size == (320, 240)


CHILD = """
import json, sys, threading
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.conftest import World, PASSWORD
from zeuge_lite import create_app
from zeuge_lite.db import connect, migrate
tmp = Path(sys.argv[2])
app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp / "db.sqlite3"),
                  "STORAGE_DIR": str(tmp / "storage"), "MODEL_DIR": str(tmp / "models"),
                  "WTF_CSRF_ENABLED": False, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
conn = connect(app.config["DATABASE"]); migrate(conn)
clients = [app.test_client() for _ in sys.argv[3:]]
world = World(conn, clients[0])
_user, archive = world.user("big@x.org")
batch = world.batch(archive)
results = []
def upload(client, path):
    World(conn, client).login("big@x.org")
    results.extend(World(conn, client).upload(batch, (Path(path).name, Path(path).read_bytes())))
threads = [threading.Thread(target=upload, args=(c, p)) for c, p in zip(clients, sys.argv[3:])]
for t in threads: t.start()
for t in threads: t.join()
peak = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) // 1024
print(json.dumps({"results": results, "peak_mb": peak}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak RSS from /proc")
def test_two_245_megapixel_scans_uploaded_at_once_stay_under_the_documented_memory_figure(tmp_path):
    paths = []
    for n in range(2):
        path = tmp_path / f"scan-{n}.png"
        path.write_bytes(png_stream(16383, 15000, label=f"scan {n}".encode()))
        paths.append(str(path))
    out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(tmp_path), *paths], capture_output=True,
                         text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert [r["status"] for r in report["results"]] == ["added", "added"], report["results"]
    assert report["peak_mb"] < PEAK_RSS_LIMIT_MB, report


@pytest.mark.parametrize("side", [1024, 320, 97])
def test_the_similarity_decode_shrinks_to_the_same_picture_as_the_display_one(side):
    """decode.shrink (OpenCV, bilinear or area) keeps the size and picture of Pillow's bicubic shrink."""
    photo = Image.open(PHOTOS_DIR / "kodak-kodim05.png").convert("RGB").resize((1200, 800))
    buffer = io.BytesIO()
    photo.save(buffer, "PNG")
    fast = decode_rgb(open_image(buffer.getvalue(), 10**8), side)
    shown = decode_rgb(open_image(buffer.getvalue(), 10**8), side, for_display=True)
    assert fast.size == shown.size and max(fast.size) == side
    difference = np.abs(np.asarray(fast, np.float64) - np.asarray(shown, np.float64)).mean()
    assert 0 < difference < 4
