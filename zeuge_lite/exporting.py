"""Batch export: a ZIP of the originals in batch order with a CSV and a JSON manifest."""
import csv
import io
import json
import re
import tempfile
import zipfile

from zeuge_lite.filenames import MAX_NAME_BYTES, clean_filename
from zeuge_lite.queries import ITEM_FIELDS
from zeuge_lite.report import csv_cells
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


def manifest_rows(items):
    """One dict per item: position, file name in the ZIP, archival and technical fields."""
    rows = []
    for position, item in enumerate(items, start=1):
        name = original_name(item["filename"] or "", item["format"], item["ext"])  # evil.html, a GIF: .gif
        row = {"position": position, "file": archive_member_name(position, name),
               "original_filename": item["filename"]}
        row.update({name: item[name] for name in ITEM_FIELDS + MANIFEST_TECH_FIELDS})
        rows.append(row)
    return rows


def batch_zip(batch, items, storage):
    """Write the ZIP to a temporary file and return it, rewound."""
    rows = manifest_rows(items)
    out = tempfile.TemporaryFile()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as bundle:  # images are compressed already
        for row, item in zip(rows, items):
            bundle.write(storage.original_path(item["sha256"], item["ext"]), row["file"])
        bundle.writestr("manifest.csv", _csv_text(rows), compress_type=zipfile.ZIP_DEFLATED)
        bundle.writestr("manifest.json", json.dumps({"batch": batch["name"], "items": rows}, indent=2),
                        compress_type=zipfile.ZIP_DEFLATED)
    out.seek(0)
    return out


def _csv_text(rows):
    buffer = io.StringIO()
    fieldnames = list(rows[0]) if rows else ["position", "file"]
    writer = csv.DictWriter(buffer, fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows(csv_cells(row) for row in rows)
    return buffer.getvalue()
