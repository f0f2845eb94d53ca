"""Decode an image once, within a memory budget: first frame, reduced-size decoding (JPEG draft, libvips for
large images), EXIF orientation, any mode to 8-bit RGB. Every decode in the app goes through decode_rgb."""
import functools
import io
import os
import warnings
from dataclasses import dataclass

from zeuge_lite.similarity.opencv import cv2
import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from zeuge_lite.metadata.embedded import camera
from zeuge_lite.similarity import budget, vips
from zeuge_lite.similarity.vips import VIPS_FORMATS

try:  # HEIC/HEIF support is optional: pillow-heif may not install everywhere.
    import pillow_heif
    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the platform
    HEIF_SUPPORTED = False

try:  # JPEG XL through pillow-jxl-plugin (libjxl), optional like HEIC
    import pillow_jxl  # noqa: F401 - importing registers the JXL opener
    JXL_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the platform
    JXL_SUPPORTED = False

# Pillow's format name -> the suffix the stored original gets. AVIF is Pillow's own (libavif, Pillow >= 11.2).
ACCEPTED_FORMATS = {"JPEG": "jpg", "PNG": "png", "TIFF": "tif", "WEBP": "webp", "GIF": "gif", "MPO": "jpg",
                    "AVIF": "avif"}
if HEIF_SUPPORTED:
    ACCEPTED_FORMATS.update({"HEIF": "heic"})
if JXL_SUPPORTED:
    ACCEPTED_FORMATS.update({"JXL": "jxl"})
FORMAT_NAMES = ", ".join(["JPEG", "PNG", "TIFF", "WebP", "GIF", "AVIF"] + ["HEIC"] * HEIF_SUPPORTED
                         + ["JPEG XL"] * JXL_SUPPORTED)


def silence_damaged_tag_warnings():
    """Keep Pillow from warning once per bad tag of a damaged EXIF block (the app calls it as it starts)."""
    # 8,000 lines for one file over a scan's progress, as many in the server log: what Pillow skips is lost
    # metadata, which read_exif already treats as none.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")


# The first bytes of the accepted formats, to tell a broken file of one of them from a file of another kind.
_SIGNATURES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG", "PNG"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
               (b"GIF8", "GIF"), (b"\xff\x0a", "JPEG XL"), (b"\x00\x00\x00\x0cJXL ", "JPEG XL"))
_FTYP_BRANDS = {b"avif": "AVIF", b"avis": "AVIF", b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIC", b"msf1": "HEIC"}

EXIF_ORIENTATION, EXIF_MAKE, EXIF_MODEL, EXIF_DATETIME = 0x0112, 0x010F, 0x0110, 0x0132
EXIF_IFD, EXIF_DATETIME_ORIGINAL = 0x8769, 0x9003
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
# Up to this many decoded pixels Pillow decodes (as it always did); larger images go the reduced-size way.
PILLOW_MAX_PIXELS = 16_000_000
# No real encoder gets below one byte per million pixels for a photo or scan (a blank G4 TIFF page needs
# about one bit per row); a header claiming more is a bomb or damaged.
MAX_PIXELS_PER_BYTE = 1_000_000
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
    """Open bytes or a path lazily (header only), refusing unknown formats, images over max_pixels and headers
    that declare far more pixels than the file could hold."""
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageRejected("The file is empty.")
        size, stream = len(source), io.BytesIO(source)
    else:
        size, stream = os.path.getsize(source), source
    try:
        image = Image.open(stream)
    except UnidentifiedImageError:
        kind = signature_format(_head(source))
        if kind:
            raise ImageRejected(f"This looks like a {kind} file, but it is broken or truncated: it cannot be "
                                "opened.") from None
        raise ImageRejected(f"This is not an image file we can read ({FORMAT_NAMES}).") from None
    except Exception as exc:  # noqa: BLE001 - decoders raise anything from OSError to struct.error on bad headers
        raise ImageRejected(f"The image data is broken or truncated ({_reason(exc)}).") from None
    if image.format not in ACCEPTED_FORMATS:
        raise ImageRejected(f"{image.format} files are not accepted; use {FORMAT_NAMES}.")
    _check_size(image, size, max_pixels)
    image.zeuge_source = source  # decode_rgb hands the same bytes to libvips for a large image
    return image


def signature_format(head):
    """The accepted format whose signature these first bytes of a file carry (RIFF WebP, ISO boxes of AVIF and
    HEIC included), or None."""
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return _FTYP_BRANDS.get(head[8:12]) if head[4:8] == b"ftyp" else None


def _head(source, size=16):
    if isinstance(source, (bytes, bytearray)):
        return bytes(source[:size])
    with open(source, "rb") as file:
        return file.read(size)


def _check_size(image, file_bytes, max_pixels):
    pixels = image.width * image.height
    if pixels > max_pixels:
        raise ImageRejected(f"The image has {image.width}×{image.height} pixels, more than the limit of "
                            f"{max_pixels:,} pixels (a guard against decompression bombs).")
    if pixels > MAX_PIXELS_PER_BYTE * file_bytes:
        raise ImageRejected(f"The file has only {file_bytes:,} bytes but declares {image.width}×{image.height} "
                            "pixels: no real scan compresses that far (a decompression bomb or a damaged header).")


def image_info(image):
    """Format, size as displayed (after EXIF orientation), mode, bit depth, DPI, frame count and EXIF fields of
    an opened image; metadata that
    cannot be read (a damaged EXIF block, a resolution of 1/0) is left out rather than failing the file."""
    exif = read_exif(image)
    orientation = exif_orientation(exif)
    width, height = displayed_size(image, orientation)
    return ImageInfo(
        format=image.format, ext=ACCEPTED_FORMATS[image.format], mode=image.mode,
        bit_depth=_bit_depth(image), width=width, height=height, dpi=_dpi(image),
        frames=frame_count(image), taken_at=_quietly(_exif_date, exif), camera=_quietly(_exif_camera, exif),
        orientation=orientation)


def displayed_size(image, orientation):
    """(width, height) of an opened image as it is shown: EXIF orientations 5-8 turn it a quarter, swapping the
    two; Pillow's TIFF reader reports a TIFF's size already turned (and turns its pixels as it loads them)."""
    size = image.size
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) and image.format != "TIFF" else tuple(size)


def read_exif(image):
    """The image's EXIF block, or an empty one when it is missing or unreadable (lost metadata, not a broken
    image)."""
    if image.format == "PNG" and "exif" not in image.info and image.width * image.height > PILLOW_MAX_PIXELS:
        return Image.Exif()  # Pillow would decode the whole PNG to look for an eXIf chunk after the pixels
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


def frame_count(image):
    """How many pages or frames an opened image holds (1 when it cannot tell)."""
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
    make, model = (str(exif.get(tag, "")).strip("\x00 ") for tag in (EXIF_MAKE, EXIF_MODEL))
    return camera(make, model)  # "Canon EOS R5", not "Canon Canon EOS R5"


def decode_rgb(image, max_side=None, for_display=False):
    """Decode the first frame of an opened image to upright 8-bit RGB, at most max_side pixels on the long side
    (for_display: shrunk by Pillow's bicubic filter, else by the faster decode.shrink the similarity stages use).

    The one guarded decode (uploads, analysis, find a photo, scan): the memory it needs is estimated first;
    more than the budget is refused, and decodes in one process share the budget, so two huge files wait for
    each other instead of decoding at once. Large images are decoded at reduced size (JPEG draft, libvips
    shrink-on-load or streaming); broken data of any kind becomes ImageRejected."""
    full_size = image.size
    if max_side and image.format == "JPEG":
        _quietly(image.draft, "RGB", (max_side, max_side))  # decode at 1/2..1/8 scale when that is enough
    path, cost = decode_plan(image, full_size, max_side)
    if cost > budget.BUDGET.total:
        raise ImageRejected(f"Decoding this {image.format} of {full_size[0]}×{full_size[1]} pixels would need "
                            f"about {cost // budget.MIB:,} MB of memory, more than the "
                            f"{budget.BUDGET.total // budget.MIB:,} MB one image may use; a tiled or striped "
                            "TIFF, a non-interlaced PNG, a baseline JPEG or a WebP of it can be read.")
    with budget.BUDGET.hold(cost):
        try:
            return _DECODERS[path](image, max_side, for_display)
        except MemoryError:
            raise ImageRejected("There was not enough memory to decode this image.") from None
        except Exception as exc:  # noqa: BLE001 - Pillow, pillow-heif and libvips raise many types on bad data
            raise ImageRejected(f"The image data is broken or truncated ({_reason(exc)}).") from None


def decode_plan(image, full_size, max_side):
    """(decoder, estimated peak bytes): Pillow up to PILLOW_MAX_PIXELS decoded pixels (what every stored
    feature was made with), else libvips at reduced size, or pillow-heif shrinking at once for HEIC."""
    pixels, full_pixels = image.width * image.height, full_size[0] * full_size[1]
    samples = _samples(image)
    frame = _whole_frame_bytes(image, full_pixels, samples)
    if pixels <= PILLOW_MAX_PIXELS or not max_side:
        return "pillow", budget.pillow_cost(pixels) + frame
    if image.format == "HEIF":
        return "heif", budget.heif_cost(pixels)
    chunk = _tiff_chunk_bytes(image, samples) if image.format == "TIFF" else 0
    from_open_image = getattr(image, "zeuge_source", None) is not None
    if image.format in VIPS_FORMATS and from_open_image and chunk <= budget.LIBTIFF_CHUNK_LIMIT:
        return "libvips", budget.VIPS_WORKING_BYTES + frame + 2 * chunk
    return "pillow", budget.pillow_cost(pixels) + frame


def _whole_frame_bytes(image, full_pixels, samples):
    """Memory a decoder must hold for the whole image even when it shrinks: a progressive JPEG's coefficients
    (libjpeg, whatever the draft scale), an Adam7 PNG's rows, a GIF's RGBA canvas (libnsgif)."""
    if image.format == "GIF" and full_pixels > PILLOW_MAX_PIXELS:
        return budget.full_frame_cost(full_pixels, 4)
    if image.info.get("progressive") or image.info.get("interlace"):
        return budget.full_frame_cost(full_pixels, samples)
    return 0


def _samples(image):
    """Decoded bytes per pixel: bands times bytes per sample (from the TIFF header where Pillow converts)."""
    depth = 4 if image.mode in ("I", "F") else 2 if image.mode in _SIXTEEN_BIT_MODES else 1
    bits = _quietly(lambda: max(image.tag_v2.get(258, (8,)))) if image.format == "TIFF" else None
    if isinstance(bits, int) and bits > 8:
        depth = max(depth, (bits + 7) // 8)
    return len(image.getbands()) * depth


def _tiff_chunk_bytes(image, samples):
    """Bytes of the largest compressed strip or tile libtiff must decode at once (0 if uncompressed: libtiff
    reads those in pieces); a header too damaged to tell counts as too large (Pillow then tries it)."""
    chunk = _quietly(_tiff_chunk, image.tag_v2, image.size, samples)
    return budget.LIBTIFF_CHUNK_LIMIT + 1 if chunk is None else chunk


def _tiff_chunk(tags, size, samples):
    if tags.get(259, 1) == 1:
        return 0
    if 322 in tags and 323 in tags:
        return int(tags[322]) * int(tags[323]) * samples
    return min(int(tags.get(278, size[1])), size[1]) * size[0] * samples


def _decode_pillow(image, max_side, for_display=False):
    image.seek(0)
    image.load()
    if for_display:
        return _displayed(_upright(image), max_side)
    rgb = to_rgb8(_upright(image))
    if not max_side or max(rgb.size) <= max_side:
        return rgb
    return shrink(rgb, max_side)


def _displayed(image, max_side):
    """8-bit sRGB for people: shrunk by Pillow's bicubic filter, colours converted by the embedded ICC profile.

    Only what is shown is converted (previews, thumbnails): the similarity features are made from the file's
    own samples, as every stored feature was, and a re-scan's profile differs from its original's anyway."""
    icc = image.info.get("icc_profile")
    if icc and image.mode in _ICC_OUTPUT_MODES:
        if max_side and max(image.size) > max_side:  # shrink first: the colour transform costs per pixel
            image = image.copy()
            image.thumbnail((max_side, max_side), Image.Resampling.BICUBIC, reducing_gap=2.0)
        image = to_srgb(image, icc)
    rgb = to_rgb8(image)
    if max_side and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.BICUBIC, reducing_gap=2.0)
    return rgb


_ICC_OUTPUT_MODES = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB", "L": "RGB", "LA": "RGBA"}


def to_srgb(image, icc):
    """The image's colours taken from its ICC profile (bytes) to sRGB; the image as it is when littlecms cannot
    use the profile for it (damaged, or made for another colour space), as if it had none."""
    try:
        transform = _transform_to_srgb(bytes(icc), image.mode)
        return ImageCms.applyTransform(image, transform)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image


@functools.lru_cache(maxsize=16)  # a scanner or camera embeds the same profile in every file
def _transform_to_srgb(icc, mode):
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    return ImageCms.buildTransform(source, _srgb_profile(), mode, _ICC_OUTPUT_MODES[mode],
                                   ImageCms.Intent.PERCEPTUAL)


@functools.cache
def _srgb_profile():
    return ImageCms.createProfile("sRGB")


def shrink(rgb, max_side):
    """An RGB image scaled down to max_side on its long side, with OpenCV (bench/README.md, "Resizing")."""
    scale = max_side / max(rgb.size)
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    # Less than halved, bilinear still reaches every source pixel, at a tenth of Pillow's bicubic cost (what
    # little aliasing remains changed no bench_quality figure); more, an area average (fast at the whole
    # factors a JPEG draft leaves).
    method = cv2.INTER_LINEAR if scale > 0.5 else cv2.INTER_AREA
    return Image.fromarray(cv2.resize(np.asarray(rgb), size, interpolation=method))


def _decode_heif_large(image, max_side, for_display=False):
    """pillow-heif cannot decode at reduced size: shrink the decoded frame first, then turn and convert it."""
    image.load()
    image.thumbnail((max_side, max_side), Image.Resampling.BICUBIC, reducing_gap=2.0)
    return _displayed(_upright(image), None) if for_display else to_rgb8(_upright(image))


def _decode_vips(image, max_side, _for_display=False):
    return vips.decode_reduced(image.zeuge_source, image.format, max_side)


_DECODERS = {"pillow": _decode_pillow, "heif": _decode_heif_large, "libvips": _decode_vips}
_TURNS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
          5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
          8: Image.Transpose.ROTATE_90}


def _upright(image):
    """Apply the EXIF orientation (as ImageOps.exif_transpose does); an unreadable EXIF block leaves it as is."""
    turn = _TURNS.get(exif_orientation(read_exif(image)))
    return image.transpose(turn) if turn else image


def _reason(exc):
    text = str(exc).strip().splitlines()
    # pillow-jxl-plugin adds advice to its builders ("Please build `libjxl` from source ..."), none to an archivist
    return (text[0].split(" Please build")[0].strip(" .") if text else type(exc).__name__)[:200]


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
