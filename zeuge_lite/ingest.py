"""Take one uploaded file into a batch: check it, store the original, make thumbnail and preview."""
from dataclasses import asdict, dataclass

from zeuge_lite import queries
from zeuge_lite.db import transaction
from zeuge_lite.similarity.decode import ImageRejected, decode_rgb, image_info, open_image
from zeuge_lite.similarity.keeper import sharpness
from zeuge_lite.storage import sha256_hex


@dataclass
class IngestResult:
    """What happened to one uploaded file: added, duplicate (already in the batch) or refused."""
    filename: str
    status: str
    message: str
    item_id: int | None = None

    def as_dict(self):
        """Plain dict for JSON responses."""
        return asdict(self)


@dataclass
class IngestLimits:
    """Configured limits and sizes for uploads."""
    max_file_bytes: int
    max_pixels: int
    thumb_size: int
    preview_size: int


def limits_from_config(config):
    """Upload limits and sizes from the app's configuration."""
    return IngestLimits(config["MAX_FILE_BYTES"], config["MAX_IMAGE_PIXELS"], config["THUMB_SIZE"],
                        config["PREVIEW_SIZE"])


def ingest_upload(conn, storage, limits, batch_id, uploader_id, filename, data):
    """Check and store one file; never raises for bad input, the result says what happened."""
    filename = (filename or "").strip() or "unnamed"
    if not data:
        return IngestResult(filename, "refused", "The file is empty.")
    if len(data) > limits.max_file_bytes:
        return IngestResult(filename, "refused", f"The file is {len(data):,} bytes, more than the limit "
                                                 f"of {limits.max_file_bytes:,} bytes.")
    sha256 = sha256_hex(data)
    existing = queries.item_in_batch_by_sha(conn, batch_id, sha256)
    if existing:
        return IngestResult(filename, "duplicate", f"Exact duplicate of “{existing['filename']}”, which is "
                                                   "already in this batch; not added again.", existing["id"])
    try:
        info, sharpness_value = _store(storage, limits, data, sha256)
    except ImageRejected as exc:
        return IngestResult(filename, "refused", str(exc))
    with transaction(conn):
        queries.upsert_file(conn, {"sha256": sha256, "size": len(data), "sharpness": sharpness_value,
                                   **asdict(info)})
        item_id = queries.add_item(conn, batch_id, sha256, filename, uploader_id)
    return IngestResult(filename, "added", "Added.", item_id)


def _store(storage, limits, data, sha256):
    """Decode once for the derived images and the sharpness figure, then keep the original untouched."""
    image = open_image(data, limits.max_pixels)
    info = image_info(image)
    sharpness_value = round(sharpness(save_derived_images(storage, limits, image, sha256)), 1)
    storage.save_original(data, sha256, info.ext)
    return info, sharpness_value


def save_derived_images(storage, limits, image, sha256):
    """Write the preview and thumbnail of an opened image (upload, or `zeuge check --fix`); return the preview."""
    preview = decode_rgb(image, limits.preview_size)
    storage.save_derived("preview", sha256, preview, quality=88)
    thumb = preview.copy()
    thumb.thumbnail((limits.thumb_size, limits.thumb_size))
    storage.save_derived("thumb", sha256, thumb, quality=82)
    return preview


def regenerate_derived(storage, limits, sha256, ext):
    """Make the preview and thumbnail again from the stored original (they are derived, never precious)."""
    with open_image(storage.original_path(sha256, ext), limits.max_pixels) as image:
        save_derived_images(storage, limits, image, sha256)
