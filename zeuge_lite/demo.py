"""Demo data: a demo user, a paid archive with real photos plus near-duplicates made now, a free archive."""
import io
from pathlib import Path

from PIL import Image, ImageOps

from zeuge_lite import queries
from zeuge_lite.auth import register_user
from zeuge_lite.db import transaction
from zeuge_lite.ingest import ingest_upload

DEMO_EMAIL = "demo@example.org"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - the demo's login is public on purpose (README)
PHOTOS_DIR = Path(__file__).parent / "demo_photos"
FREE_PHOTOS = ("kodak-kodim03.png", "kodak-kodim15.png", "skimage-coffee.png")


def _jpeg_bytes(image, quality):
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _reencoded(image):
    return _jpeg_bytes(image.resize((image.width * 3 // 4, image.height * 3 // 4)), quality=70)


def _cropped(image):
    w, h = image.size
    return _jpeg_bytes(image.crop((w // 12, h // 12, w - w // 12, h - h // 12)), quality=90)


def _turned(image):
    return _jpeg_bytes(image.transpose(Image.Transpose.ROTATE_90), quality=90)


def _tinted(image):
    sepia = ImageOps.colorize(ImageOps.grayscale(image), black="#2e1f0f", white="#f5e6c8")
    return _jpeg_bytes(sepia, quality=88)


# (source photo, how the copy is made, name of the copy)
NEAR_DUPLICATES = (
    ("kodak-kodim01.png", _reencoded, "kodim01-rescan-small.jpg"),
    ("kodak-kodim05.png", _cropped, "kodim05-cropped.jpg"),
    ("kodak-kodim13.png", _turned, "kodim13-turned.jpg"),
    ("skimage-chelsea.png", _tinted, "chelsea-sepia.jpg"),
    ("kodak-kodim23.png", _reencoded, "kodim23-reencoded.jpg"),
)


def demo_files():
    """(filename, bytes) for the demo batch: the shipped photos, then near-duplicates made from them."""
    originals = sorted(p for p in PHOTOS_DIR.iterdir() if p.suffix in (".png", ".jpg"))
    files = [(p.name, p.read_bytes()) for p in originals]
    for source, make, name in NEAR_DUPLICATES:
        with Image.open(PHOTOS_DIR / source) as image:
            files.append((name, make(image.convert("RGB"))))
    return files


def create_demo(conn, storage, limits):
    """Create the demo user and archives unless they exist; return a one-line summary."""
    if queries.user_by_email(conn, DEMO_EMAIL):
        return f"Demo data exists already. Log in as {DEMO_EMAIL} / {DEMO_PASSWORD}."
    user_id = register_user(conn, DEMO_EMAIL, "Demo Archivist", DEMO_PASSWORD, "Demo Archive (Pro)", "pro")
    paid_batch = queries.create_batch(conn, queries.archives_of_user(conn, user_id)[0]["id"], "Kodak scans")
    added = _fill(conn, storage, limits, paid_batch, user_id, demo_files())
    with transaction(conn):
        free_archive = queries.create_archive(conn, "Demo Archive (Free)", "free")
        queries.add_member(conn, free_archive, user_id, "owner")
        free_batch = queries.create_batch(conn, free_archive, "Free plan sample")
    _fill(conn, storage, limits, free_batch, user_id,
          [(name, (PHOTOS_DIR / name).read_bytes()) for name in FREE_PHOTOS])
    return (f"Demo ready: {added} photos in “Kodak scans” (Pro plan) and a Free-plan archive. "
            f"Log in as {DEMO_EMAIL} / {DEMO_PASSWORD}.")


def _fill(conn, storage, limits, batch_id, user_id, files):
    results = [ingest_upload(conn, storage, limits, batch_id, user_id, name, data) for name, data in files]
    return sum(result.status == "added" for result in results)
