"""Security headers on every response, and the one way files are offered for download."""
import re
import unicodedata
from urllib.parse import quote

from flask import abort, request
from werkzeug.exceptions import NotFound

# Scripts and styles come only from static/: no inline code, no eval (htmx is told allowEval=false in base.html).
# Images may also be data: URLs: find-a-photo shows the searched photo beside its verdict without storing it.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Pillow's format name (files.format) -> the type the bytes really are; the uploaded name never decides.
FORMAT_MIMETYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "TIFF": "image/tiff",
                    "WEBP": "image/webp", "GIF": "image/gif", "HEIF": "image/heic",
                    "AVIF": "image/avif", "JXL": "image/jxl"}
FORMAT_SUFFIXES = {"JPEG": {"jpg", "jpeg", "jpe", "jfif"}, "MPO": {"jpg", "jpeg", "mpo"}, "PNG": {"png"},
                   "TIFF": {"tif", "tiff"}, "WEBP": {"webp"}, "GIF": {"gif"}, "HEIF": {"heic", "heif"},
                   "AVIF": {"avif"}, "JXL": {"jxl"}}


def add_headers(response):
    """Set the security headers a view has not set itself; what no view said may be cached is never stored."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    # Pages, fragments and exports show one archive's data: not kept for Back after a logout on a shared
    # reading-room computer, and not shown stale from the cache on Back (the metadata table would then offer
    # values the server no longer holds). Static files and images say their own (send_file: no-cache).
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def mimetype_of_format(pillow_format):
    """The MIME type of a decoded image format; unknown formats are plain bytes."""
    return FORMAT_MIMETYPES.get(pillow_format, "application/octet-stream")


def original_name(filename, pillow_format, ext):
    """The original's download name, ending in its real format's suffix (evil.html, a GIF, saves as evil.html.gif)."""
    suffix = filename.rpartition(".")[2].lower() if "." in filename else ""
    return filename if suffix in FORMAT_SUFFIXES.get(pillow_format, {ext}) else f"{filename}.{ext}"


def attachment(filename):
    """A Content-Disposition value that makes the browser save the file: an ASCII name and the RFC 5987 one."""
    name = re.sub(r"[\x00-\x1f\x7f/\\]+", "_", filename or "").strip() or "download"
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = re.sub(r"[^A-Za-z0-9._()+ -]+", "_", ascii_name).strip(" .") or "download"
    return f'attachment; filename="{ascii_name[:150]}"; filename*=UTF-8\'\'{quote(name, safe="")}'


MAX_FORM_BYTES = 1024 * 1024  # a form without files is a few fields: a bigger body is refused before parsing


def refuse_oversized_forms():
    """Only file uploads (multipart) may be large; an oversized plain form never gets parsed into memory."""
    if request.mimetype != "multipart/form-data" and (request.content_length or 0) > MAX_FORM_BYTES:
        abort(413)


def init_app(app):
    """Every response the app sends (pages, fragments, static files, errors, downloads) gets the headers;
    oversized plain forms are refused; ids too large for SQLite answer 404, not 500."""
    app.before_request(refuse_oversized_forms)
    app.after_request(add_headers)
    app.register_error_handler(OverflowError, lambda _error: NotFound())
