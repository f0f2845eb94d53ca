"""Batch export: a ZIP of the originals in batch order with a CSV and a JSON manifest."""
import csv
import io
import json
import re
import time
import zipfile

from zeuge_lite.filenames import MAX_NAME_BYTES, clean_filename
from zeuge_lite.queries import ITEM_FIELDS
from zeuge_lite.report import csv_cells, drain
from zeuge_lite.security import original_name

MANIFEST_TECH_FIELDS = ("sha256", "format", "width", "height", "orientation", "size", "taken_at", "camera")
def zip_name(batch):
    """A safe download name for a batch's ZIP."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", batch["name"]).strip("-") or "batch"
    return f"{slug}-{batch['id']}.zip"


def archive_member_name(position, filename):
    """The file's name inside the ZIP: its position first, so the ZIP sorts in batch order; cleaned and cut to
    255 bytes even for names stored before uploads were cleaned (a ZIP name must stay under 64 KiB)."""
    prefix = f"{position:04d}_"
    safe = re.sub(r"[\\/:]+", "_", filename or "").lstrip(".")
    return prefix + clean_filename(safe, MAX_NAME_BYTES - len(prefix), default="item")


def manifest_row(position, item):
    """One item's manifest entry: position, file name in the ZIP, archival and technical fields."""
    name = original_name(item["filename"] or "", item["format"], item["ext"])  # evil.html, a GIF: .gif
    row = {"position": position, "file": archive_member_name(position, name), "original_filename": item["filename"]}
    row.update({field: item[field] for field in ITEM_FIELDS + MANIFEST_TECH_FIELDS})
    return row


def stream_batch_zip(batch, items, storage):
    """The ZIP as a stream of byte chunks: originals in batch order, then manifest.csv and manifest.json.

    items() gives the batch's rows afresh (it is called twice: files, then manifests), so neither the ZIP nor
    the manifest is ever held whole, in memory or on disk."""
    sink = _Chunks()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as bundle:  # images are compressed already
        for position, item in enumerate(items(), start=1):
            entry_name = manifest_row(position, item)["file"]
            with open(storage.original_path(item["sha256"], item["ext"]), "rb") as original, \
                    bundle.open(entry_name, "w", force_zip64=True) as entry:
                while block := original.read(CHUNK_BYTES):
                    entry.write(block)
                    yield sink.take()
        yield from _manifest_entry(bundle, sink, "manifest.csv", _csv_lines(items()))
        yield from _manifest_entry(bundle, sink, "manifest.json", _json_lines(batch, items()))
    yield sink.take()


CHUNK_BYTES = 1 << 20


def stream_zip(entries):
    """A ZIP as a stream of byte chunks from (name, byte chunks, deflate) entries, each written as it comes."""
    sink, made_at = _Chunks(), time.localtime()[:6]  # one tuple for all: zipfile keeps every entry's ZipInfo
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as bundle:
        for name, chunks, deflate in entries:
            entry = zipfile.ZipInfo(name, made_at)
            entry.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            with bundle.open(entry, "w", force_zip64=True) as out:
                for chunk in chunks:
                    out.write(chunk)
                    yield sink.take()
    yield sink.take()


def missing_originals(items, storage):
    """File names of the items whose stored original is gone: checked before a ZIP starts, since a stream that
    fails half-way leaves a broken file behind."""
    return [item["filename"] for item in items if not storage.has_original(item["sha256"], item["ext"])]


class _Chunks(io.RawIOBase):
    """A write-only, unseekable file that hands out what was written to it (zipfile then writes data
    descriptors instead of seeking back)."""

    def __init__(self):
        super().__init__()
        self._buffer = bytearray()  # not a list of parts: the central directory comes in 3 writes an entry

    def writable(self):
        return True

    def write(self, data):
        self._buffer += data
        return len(data)

    def take(self):
        """The bytes written since the last take."""
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def _manifest_entry(bundle, sink, name, lines):
    entry = zipfile.ZipInfo(name)
    entry.compress_type = zipfile.ZIP_DEFLATED
    with bundle.open(entry, "w", force_zip64=True) as out:
        for line in lines:
            out.write(line.encode())
            yield sink.take()


def _csv_lines(items):
    buffer, writer = io.StringIO(), None
    for position, item in enumerate(items, start=1):
        row = manifest_row(position, item)
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(row))
            writer.writeheader()
        writer.writerow(csv_cells(row))
        yield drain(buffer)
    if writer is None:  # an empty batch: the header alone
        csv.writer(buffer).writerow(["position", "file"])
        yield drain(buffer)


def _json_lines(batch, items):
    yield '{"batch": ' + json.dumps(batch["name"]) + ', "items": ['
    for position, item in enumerate(items, start=1):
        yield ("," if position > 1 else "") + "\n  " + json.dumps(manifest_row(position, item))
    yield "\n]}\n"
