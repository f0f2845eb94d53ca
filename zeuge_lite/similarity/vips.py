"""Reduced-size decoding of large images with libvips (pyvips): shrink-on-load for JPEG and WebP, a streamed
decode shrunk as it goes for PNG, TIFF and GIF, so a 100 MP scan never sits in memory at full size.

Measured in bench/bench_decode.py: a 10000x10000 PNG costs ~130 MB instead of ~1.1 GB with Pillow, a
16383x15000 WebP ~130 MB instead of 4.7 GB, and each is 2-10x faster."""
from PIL import Image

try:  # pyvips-binary ships libvips for the common platforms; without it large images go through Pillow
    import pyvips
    # Only the loaders of formats we accept (and that OSS-Fuzz covers) may run on uploaded bytes: a file that
    # Pillow calls TIFF must not reach libvips's CSV, matrix or raw loaders. HEIF stays with pillow-heif (the
    # bundled libvips has no HEVC decoder). No operation cache: it would keep decoded pixels and sources alive.
    pyvips.operation_block_set("VipsForeignLoad", True)
    for _loader in ("Jpeg", "Png", "Tiff", "Webp", "Nsgif"):
        pyvips.operation_block_set(f"VipsForeignLoad{_loader}", False)
    pyvips.cache_set_max(0)
    VIPS_FORMATS = {"JPEG", "MPO", "PNG", "TIFF", "WEBP", "GIF"}
except (ImportError, OSError):  # pragma: no cover - depends on the platform
    pyvips = None
    VIPS_FORMATS = set()

VipsError = pyvips.Error if pyvips else RuntimeError
_EXPECTED_LOADER = {"JPEG": "jpegload", "MPO": "jpegload", "PNG": "pngload", "TIFF": "tiffload",
                    "WEBP": "webpload", "GIF": "gifload"}


def decode_reduced(source, fmt, max_side):
    """First frame/page of bytes or a path, upright (EXIF orientation), as 8-bit RGB Pillow image, at most
    max_side on the long side. Raises VipsError for broken data, ValueError if libvips sees another format."""
    src = pyvips.Source.new_from_memory(source) if isinstance(source, (bytes, bytearray)) \
        else pyvips.Source.new_from_file(str(source))
    # fail_on=error: a truncated or corrupt file is refused, as with Pillow, not half-decoded.
    image = pyvips.Image.thumbnail_source(src, max_side, height=max_side, size="down",
                                          option_string="fail_on=error")
    loader = image.get("vips-loader") if image.get_typeof("vips-loader") else ""
    if not loader.startswith(_EXPECTED_LOADER[fmt]):
        raise ValueError(f"the file reads as {loader or 'another format'}, not as {fmt}")
    rgb = _to_rgb8(image)
    return Image.frombytes("RGB", (rgb.width, rgb.height), rgb.write_to_memory())


def _to_rgb8(image):
    """Any libvips band format and band count to 3-band uchar, scaled as decode.to_rgb8 does, alpha on white."""
    if image.format in ("ushort", "short"):
        image = (image * (255.0 / 65535.0)).cast("uchar")
    elif image.format in ("uint", "int"):
        top = image.max()
        image = image.cast("uchar") if top <= 255 else (image * (255.0 / 65535.0)).cast("uchar")
    elif image.format in ("float", "double"):
        image = (image * (255.0 / max(1.0, image.max()))).cast("uchar")
    elif image.format != "uchar":
        image = image.cast("uchar")
    if image.bands in (2, 4):  # grey + alpha, RGB + alpha (CMYK was turned into sRGB by thumbnail)
        image = image.flatten(background=[255] * (image.bands - 1))
    if image.bands == 1:
        return image.bandjoin([image, image])
    return image[:3] if image.bands > 3 else image
