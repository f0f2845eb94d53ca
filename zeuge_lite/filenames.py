"""One sanitiser for file names that come from outside (uploads) or from older databases (exports, downloads)."""
import unicodedata

MAX_NAME_BYTES = 255  # what common file systems allow for one name, in UTF-8 bytes
MAX_EXTENSION_BYTES = 16
# Bidirectional controls can make "gpj.exe" look like "exe.jpg"; none belongs in a file name.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_filename(name, max_bytes=MAX_NAME_BYTES, default="unnamed"):
    """name without NUL, control, bidi-control or unpaired surrogate characters, trimmed, at most max_bytes
    in UTF-8 (cut on a character boundary, the extension kept); default when nothing is left."""
    kept = "".join(c for c in (name or "") if not _unwanted(c)).strip()
    if not kept:
        return default
    stem, dot, extension = kept.rpartition(".")
    if not dot or not stem or len(extension.encode("utf-8")) > MAX_EXTENSION_BYTES:
        stem, extension = kept, ""
    suffix = f".{extension}" if extension else ""
    room = max(1, max_bytes - len(suffix.encode("utf-8")))
    cut = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip()
    return (cut + suffix) if cut else default


def _unwanted(char):
    return char in BIDI_CONTROLS or unicodedata.category(char) in ("Cc", "Cs")
