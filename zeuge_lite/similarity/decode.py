"""Decode an image once: first frame, reduced-size JPEG decoding, EXIF orientation, any mode to 8-bit RGB."""
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

try:  # HEIC/HEIF support is optional: pillow-heif may not install everywhere.
    import pillow_heif
    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the platform
    HEIF_SUPPORTED = False

ACCEPTED_FORMATS = {"JPEG": "jpg", "PNG": "png", "TIFF": "tif", "WEBP": "webp", "GIF": "gif", "MPO": "jpg"}
if HEIF_SUPPORTED:
    ACCEPTED_FORMATS.update({"HEIF": "heic"})

EXIF_ORIENTATION, EXIF_MAKE, EXIF_MODEL, EXIF_DATETIME = 0x0112, 0x010F, 0x0110, 0x0132
EXIF_IFD, EXIF_DATETIME_ORIGINAL = 0x8769, 0x9003
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
# open_image enforces a configurable pixel limit itself; Pillow's fixed global guard would refuse
# large-format archival scans below that limit.
Image.MAX_IMAGE_PIXELS = None


class ImageRejected(ValueError):
    """A file that is not an image we accept, or is broken or too large; the message says which."""


@dataclass
class ImageInfo:
    """Technical data of an original, read without decoding all its pixels."""
    format: str
    ext: str
    mode: str
    bit_depth: int | None
    width: int
    height: int
    dpi: int | None
    frames: int
    taken_at: str | None
    camera: str | None
    orientation: int | None


def open_image(source, max_pixels):
    """Open bytes or a path lazily, refusing unknown formats and images over max_pixels."""
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageRejected("The file is empty.")
        source = io.BytesIO(source)
    try:
        image = Image.open(source)
    except UnidentifiedImageError:
        raise ImageRejected("This is not an image file we can read (JPEG, PNG, TIFF, WebP, GIF or HEIC).") from None
    except OSError as exc:
        raise ImageRejected(f"The image data is broken or truncated ({exc}).") from None
    if image.format not in ACCEPTED_FORMATS:
        raise ImageRejected(f"{image.format} files are not accepted; use JPEG, PNG, TIFF, WebP, GIF or HEIC.")
    if image.width * image.height > max_pixels:
        raise ImageRejected(f"The image has {image.width}×{image.height} pixels, more than the limit of "
                            f"{max_pixels:,} pixels (a guard against decompression bombs).")
    return image


def image_info(image):
    """Format, size, mode, bit depth, DPI, frame count and EXIF fields of an opened image."""
    exif = image.getexif()
    dpi = image.info.get("dpi")
    return ImageInfo(
        format=image.format, ext=ACCEPTED_FORMATS[image.format], mode=image.mode,
        bit_depth=_bit_depth(image), width=image.width, height=image.height,
        dpi=int(round(float(dpi[0]))) if dpi and dpi[0] else None,
        frames=getattr(image, "n_frames", 1), taken_at=_exif_date(exif), camera=_exif_camera(exif),
        orientation=exif.get(EXIF_ORIENTATION))


def _bit_depth(image):
    if image.mode in _SIXTEEN_BIT_MODES:
        return 16
    if image.mode == "1":
        return 1
    if image.mode == "F":
        return 32
    return 8


def _exif_date(exif):
    value = exif.get_ifd(EXIF_IFD).get(EXIF_DATETIME_ORIGINAL) or exif.get(EXIF_DATETIME)
    if not isinstance(value, str) or len(value) < 10:
        return None
    return value[:10].replace(":", "-") + value[10:].rstrip("\x00")


def _exif_camera(exif):
    parts = [str(exif.get(tag, "")).strip("\x00 ") for tag in (EXIF_MAKE, EXIF_MODEL)]
    camera = " ".join(part for part in parts if part)
    return camera or None


def decode_rgb(image, max_side=None):
    """Decode the first frame to upright 8-bit RGB, at most max_side pixels on the long side."""
    if max_side and image.format == "JPEG":
        image.draft("RGB", (max_side, max_side))  # decode at 1/2..1/8 scale when that is enough
    try:
        image.seek(0)
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"The image data is broken or truncated ({exc}).") from None
    upright = ImageOps.exif_transpose(image) or image
    rgb = to_rgb8(upright)
    if max_side and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.BICUBIC, reducing_gap=2.0)
    return rgb


def to_rgb8(image):
    """Convert any Pillow mode (16-bit, float, CMYK, palette, alpha, 1-bit) to 8-bit RGB, on white."""
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        image = _scale_to_8bit(image)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return _flatten_on_white(image.convert("RGBA"))
    return image.convert("RGB")


def _scale_to_8bit(image):
    """Map 16-bit or float samples to 0..255 by the format's range, not by clipping."""
    data = np.asarray(image, dtype=np.float64)
    top = 65535.0 if image.mode != "F" else max(1.0, float(data.max()))
    if image.mode == "I" and data.max() <= 255:
        top = 255.0
    return Image.fromarray(np.clip(data * (255.0 / top), 0, 255).astype(np.uint8), "L")


def _flatten_on_white(rgba):
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")
