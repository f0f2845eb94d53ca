"""Content-addressed storage of originals and their derived images (thumbnail, preview)."""
import hashlib
import io
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DERIVED_KINDS = ("thumb", "preview")
PART_SUFFIX = ".part"
# A .part file this old belongs to no live write (files are written from memory in well under a second);
# one younger may be another process writing right now and is left alone.
PART_MAX_AGE_S = 300


@dataclass
class Storage:
    """Files under one root: originals/ab/<sha256>.<ext>, thumb/ab/<sha256>.jpg, preview/ab/<sha256>.jpg."""
    root: Path

    def original_path(self, sha256, ext):
        """Where the untouched original with this content hash lives."""
        return Path(self._original(sha256, ext))  # one Path, not four joins: a ZIP of 10^5 items asks for each

    def has_original(self, sha256, ext):
        """Whether that original is there (a string path: a 100,000-item check spends its time in stat calls)."""
        return os.path.exists(self._original(sha256, ext))

    def _original(self, sha256, ext):
        return os.path.join(self.root, "originals", sha256[:2], f"{sha256}.{ext}")

    def derived_path(self, kind, sha256):
        """Where a derived JPEG (thumb or preview) of this content lives."""
        return Path(os.path.join(self.root, kind, sha256[:2], f"{sha256}.jpg"))

    def save_original(self, data, sha256, ext):
        """Write the original once (atomically); the path if this call created it, None if it existed."""
        return _write_new(self.original_path(sha256, ext), data)

    def save_derived(self, kind, sha256, image, quality):
        """Write a derived RGB image as JPEG once (atomically); the path if this call created it, else None."""
        path = self.derived_path(kind, sha256)
        if path.exists():  # derived from the same content: the same picture
            return None
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, optimize=True)
        return _write_new(path, buffer.getvalue())

    def discard(self, paths):
        """Delete files this process just created (an upload that could not be completed)."""
        for path in paths:
            if path:
                Path(path).unlink(missing_ok=True)

    def remove(self, sha256, ext):
        """Delete the original and derived files of a content hash that no item uses any more."""
        paths = [self.original_path(sha256, ext)] + [self.derived_path(k, sha256) for k in DERIVED_KINDS]
        for path in paths:
            path.unlink(missing_ok=True)


def sha256_hex(data):
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def sweep_partial_files(root, older_than_s=PART_MAX_AGE_S):
    """Delete the .part files a crash left behind under root (not those still being written); their count."""
    removed, cutoff = 0, time.time() - older_than_s
    for path in Path(root).glob(f"*/*/*{PART_SUFFIX}"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another process swept or finished it meanwhile
            continue
    return removed


def _write_new(path, data):
    if path.exists():
        return None
    _atomic_write(path, data)
    return path


def _atomic_write(path, data):
    """Write through a .part file in the same folder, then rename: readers never see half a file, and a
    failed write (a full disk) leaves no .part file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=PART_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            write_bytes(handle, data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(handle, data):
    """The one place file contents are written (a seam: tests make it fail as a full disk does)."""
    handle.write(data)
