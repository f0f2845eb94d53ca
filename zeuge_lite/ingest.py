"""Take one uploaded file into a batch: check it, store the original, make thumbnail and preview."""
import errno
import json
from dataclasses import asdict, dataclass

from zeuge_lite import queries
from zeuge_lite.db import transaction
from zeuge_lite.filenames import clean_filename
from zeuge_lite.metadata import embedded
from zeuge_lite.similarity.decode import (
    ImageRejected,
    decode_rgb,
    image_info,
    open_image,
)
from zeuge_lite.similarity.keeper import sharpness
from zeuge_lite.similarity.plain import is_plain
from zeuge_lite.storage import sha256_hex

SQLITE_FULL = 13  # the result code of a write that found the disk (or the database) full
DISK_FULL_MESSAGE = "The server's disk is full; nothing was saved. Please tell the administrator."


class DiskFull(Exception):
    """Storage or database ran out of space; what this upload had written is removed again."""


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
    """Check and store one file; never raises for bad input, the result says what happened.

    Raises DiskFull when the disk is full, after removing what it wrote: no item row, no files, no .part."""
    filename = clean_filename(filename)
    if not data:
        return IngestResult(filename, "refused", "The file is empty.")
    if len(data) > limits.max_file_bytes:
        return IngestResult(filename, "refused", f"The file is {len(data):,} bytes, more than the limit "
                                                 f"of {limits.max_file_bytes:,} bytes.")
    if is_sidecar(filename):
        return ingest_sidecar(conn, batch_id, filename, data)
    sha256 = sha256_hex(data)
    existing = queries.item_in_batch_by_sha(conn, batch_id, sha256)
    if existing:
        return IngestResult(filename, "duplicate", f"Exact duplicate of “{existing['filename']}”, which is "
                                                   "already in this batch; not added again.", existing["id"])
    try:
        prepared = _prepare(limits, data)
    except ImageRejected as exc:
        return IngestResult(filename, "refused", str(exc))
    item = {"batch_id": batch_id, "filename": filename, "uploader_id": uploader_id}
    item_id = _store(conn, storage, prepared, data, sha256, item)
    return IngestResult(filename, "added", "Added.", item_id)


def is_sidecar(filename):
    """Whether an uploaded name is an XMP sidecar (photo.xmp or photo.jpg.xmp)."""
    return filename.lower().endswith(".xmp")


def ingest_sidecar(conn, batch_id, filename, data):
    """Apply an XMP sidecar to the batch's photo(s) of the same base name: its fields are stored with the item
    and fill empty archival fields as the file's own do."""
    fields = embedded.sidecar_metadata(data)
    if fields is None:
        return IngestResult(filename, "refused", "This .xmp file is not an XMP sidecar (no XMP packet in it).")
    stem = filename[:-4]
    photos = [row for row in queries.items_named_like(conn, batch_id, stem)
              if row["filename"] == stem or "." not in row["filename"][len(stem) + 1:]]
    if not photos:
        return IngestResult(filename, "refused", f"No photo named “{stem}” (with any suffix) is in this batch: "
                                                 "upload the photo first, or together with its sidecar.")
    fill = queries.batch_fill_from_file(conn, batch_id)
    with transaction(conn):
        for photo in photos:
            queries.set_item_sidecar(conn, photo["id"], json.dumps(fields))
            if fill:
                own = json.loads(queries.file_embedded(conn, photo["sha256"]) or "{}")
                _fill(conn, dict(photo), embedded.merged(own, fields))
    names = ", ".join(f"“{p['filename']}”" for p in photos)
    return IngestResult(filename, "applied", f"XMP sidecar applied to {names}.", photos[0]["id"])


def _fill(conn, item, fields):
    """Fill the item's empty archival fields (or those still holding an earlier fill) from embedded fields."""
    filled = json.loads(item.get("filled") or "{}")
    values = embedded.fills(fields, item, filled)
    if values:
        queries.update_item_fields(conn, item["id"], values)
        queries.set_item_filled(conn, item["id"], json.dumps({**filled, **values}))


@dataclass
class _Prepared:
    info: object
    preview: object
    thumb: object
    sharpness: float
    embedded: dict
    plain: bool


def _prepare(limits, data):
    """Decode once for the derived images and the sharpness figure, read the embedded metadata once; nothing is
    written yet."""
    image = open_image(data, limits.max_pixels)
    info = image_info(image)
    fields = embedded.file_metadata(data, image.info.get("exif"), _xmp_block(image))
    info.taken_at = fields.get("taken_at") or info.taken_at
    info.camera = fields.get("camera") or info.camera
    preview, thumb = derived_images(limits, image)
    plain = is_plain(preview)
    return _Prepared(info, preview, thumb, round(sharpness(preview, plain), 1), fields, plain)


def _xmp_block(image):
    value = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    return value if isinstance(value, (bytes, str)) else None


def derived_images(limits, image):
    """(preview, thumbnail) of an opened image: uploads and `zeuge check --fix` make them the same way."""
    preview = decode_rgb(image, limits.preview_size, for_display=True)
    thumb = preview.copy()
    thumb.thumbnail((limits.thumb_size, limits.thumb_size))
    return preview, thumb


def regenerate_derived(storage, limits, sha256, ext):
    """Make the preview and thumbnail again from the stored original (they are derived, never precious)."""
    with open_image(storage.original_path(sha256, ext), limits.max_pixels) as image:
        preview, thumb = derived_images(limits, image)
    storage.save_derived("preview", sha256, preview, quality=88)
    storage.save_derived("thumb", sha256, thumb, quality=82)


def _store(conn, storage, prepared, data, sha256, item):
    """Write derived files, the untouched original and the rows; on any failure remove the files this call
    created (unless another item took the same content meanwhile) and re-raise, a full disk as DiskFull."""
    created = []
    try:
        created.append(storage.save_derived("preview", sha256, prepared.preview, quality=88))
        created.append(storage.save_derived("thumb", sha256, prepared.thumb, quality=82))
        created.append(storage.save_original(data, sha256, prepared.info.ext))
        with transaction(conn):
            queries.upsert_file(conn, {"sha256": sha256, "size": len(data), "sharpness": prepared.sharpness,
                                       "embedded": json.dumps(prepared.embedded), "plain": int(prepared.plain),
                                       **asdict(prepared.info)})
            item_id = queries.add_item(conn, item["batch_id"], sha256, item["filename"], item["uploader_id"])
            if queries.batch_fill_from_file(conn, item["batch_id"]):
                _fill(conn, {"id": item_id}, prepared.embedded)
            return item_id
    except BaseException as exc:
        if not _quietly_in_use(conn, sha256):
            storage.discard(created)
        if is_disk_full(exc):
            raise DiskFull(DISK_FULL_MESSAGE) from exc
        raise


def _quietly_in_use(conn, sha256):
    try:
        return queries.file_in_use(conn, sha256)
    except Exception:  # noqa: BLE001 - a database that cannot answer: keep the files rather than lose some
        return True


def is_disk_full(exc):
    """Whether an error means no space is left: ENOSPC/EDQUOT from the file system, SQLITE_FULL from SQLite."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL or "database or disk is full" in str(exc)
