"""Content-addressed storage of originals and their derived images (thumbnail, preview)."""
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

DERIVED_KINDS = ("thumb", "preview")


@dataclass
class Storage:
    """Files under one root: originals/ab/<sha256>.<ext>, thumb/ab/<sha256>.jpg, preview/ab/<sha256>.jpg."""
    root: Path

    def original_path(self, sha256, ext):
        """Where the untouched original with this content hash lives."""
        return Path(self.root) / "originals" / sha256[:2] / f"{sha256}.{ext}"

    def derived_path(self, kind, sha256):
        """Where a derived JPEG (thumb or preview) of this content lives."""
        return Path(self.root) / kind / sha256[:2] / f"{sha256}.jpg"

    def save_original(self, data, sha256, ext):
        """Write the original once (atomically); an existing copy is kept as it is."""
        path = self.original_path(sha256, ext)
        if not path.exists():
            _atomic_write(path, data)
        return path

    def save_derived(self, kind, sha256, image, quality):
        """Write a derived RGB image as JPEG (atomically)."""
        path = self.derived_path(kind, sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, "JPEG", quality=quality, optimize=True)
        os.replace(tmp, path)
        return path

    def remove(self, sha256, ext):
        """Delete the original and derived files of a content hash that no item uses any more."""
        paths = [self.original_path(sha256, ext)] + [self.derived_path(k, sha256) for k in DERIVED_KINDS]
        for path in paths:
            path.unlink(missing_ok=True)


def sha256_hex(data):
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def _atomic_write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
