"""Decode an image once: first frame, reduced-size JPEG decoding, EXIF orientation, any mode to 8-bit RGB."""
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

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
    """Open bytes or a path lazily (header only), refusing unknown formats and images over max_pixels."""
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageRejected("The file is empty.")
        source = io.BytesIO(source)
    try:
        image = Image.open(source)
    except UnidentifiedImageError:
        raise ImageRejected("This is not an image file we can read (JPEG, PNG, TIFF, WebP, GIF or HEIC).") from None
    except Exception as exc:  # noqa: BLE001 - decoders raise anything from OSError to struct.error on bad headers
        raise ImageRejected(f"The image data is broken or truncated ({_reason(exc)}).") from None
    if image.format not in ACCEPTED_FORMATS:
        raise ImageRejected(f"{image.format} files are not accepted; use JPEG, PNG, TIFF, WebP, GIF or HEIC.")
    if image.width * image.height > max_pixels:
        raise ImageRejected(f"The image has {image.width}×{image.height} pixels, more than the limit of "
                            f"{max_pixels:,} pixels (a guard against decompression bombs).")
    return image


def image_info(image):
    """Format, size, mode, bit depth, DPI, frame count and EXIF fields of an opened image; metadata that
    cannot be read (a damaged EXIF block, a resolution of 1/0) is left out rather than failing the file."""
    exif = read_exif(image)
    return ImageInfo(
        format=image.format, ext=ACCEPTED_FORMATS[image.format], mode=image.mode,
        bit_depth=_bit_depth(image), width=image.width, height=image.height, dpi=_dpi(image),
        frames=_frames(image), taken_at=_quietly(_exif_date, exif), camera=_quietly(_exif_camera, exif),
        orientation=exif_orientation(exif))


def read_exif(image):
    """The image's EXIF block, or an empty one when it is missing or unreadable (lost metadata, not a broken
    image)."""
    return _quietly(image.getexif) or Image.Exif()


def exif_orientation(exif):
    """The EXIF orientation 1..8, or None when absent or nonsense."""
    value = _quietly(exif.get, EXIF_ORIENTATION)
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _quietly(read, *args):
    try:
        return read(*args)
    except Exception:  # noqa: BLE001 - one unreadable metadata field is dropped, the rest is kept
        return None


def _dpi(image):
    # absent, or a resolution such as 1/0 (NaN) or an odd type in a damaged header: no DPI
    dpi = _quietly(lambda: round(float(image.info["dpi"][0])))
    return dpi if dpi is not None and 0 < dpi < 1_000_000 else None


def _frames(image):
    frames = _quietly(getattr, image, "n_frames", 1)
    return frames if isinstance(frames, int) and frames > 0 else 1


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
    """Decode the first frame to upright 8-bit RGB, at most max_side pixels on the long side; broken data of
    any kind becomes ImageRejected."""
    if max_side and image.format == "JPEG":
        _quietly(image.draft, "RGB", (max_side, max_side))  # decode at 1/2..1/8 scale when that is enough
    try:
        return _decode_pillow(image, max_side)
    except MemoryError:
        raise ImageRejected("There was not enough memory to decode this image.") from None
    except Exception as exc:  # noqa: BLE001 - Pillow and pillow-heif raise many types on damaged data
        raise ImageRejected(f"The image data is broken or truncated ({_reason(exc)}).") from None


def _decode_pillow(image, max_side):
    image.seek(0)
    image.load()
    rgb = to_rgb8(_upright(image))
    if max_side and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.BICUBIC, reducing_gap=2.0)
    return rgb


_TURNS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
          5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
          8: Image.Transpose.ROTATE_90}


def _upright(image):
    """Apply the EXIF orientation (as ImageOps.exif_transpose does); an unreadable EXIF block leaves it as is."""
    turn = _TURNS.get(exif_orientation(read_exif(image)))
    return image.transpose(turn) if turn else image


def _reason(exc):
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


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
