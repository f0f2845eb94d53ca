"""Decode cost of large images: time and peak RSS of Pillow vs libvips (pyvips) vs the app's guarded decode.

    .venv/bin/python bench/bench_decode.py [--keep DIR] [--methods pillow,pyvips,zeuge] [--cases ...]

Each (case, method, side) runs in a fresh subprocess and reads its own RSS high-water mark (VmHWM, which
counts C allocations that tracemalloc misses; ru_maxrss would carry the parent's peak over across exec).
"+decode MB" is the peak minus the process after imports and reading the file into memory (an upload arrives
as bytes); the decode goes to a long side of 1600 px (the upload's preview) or 320 px (the analysis).
"pillow" is the app's decode before libvips; "pyvips" is plain thumbnail_buffer (which copies the bytes
once more); "zeuge" is zeuge_lite.similarity.decode as shipped. Prints figures, asserts nothing.
"""
import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASES = {  # name: (file name, what it is)
    "jpeg-12mp": ("scan-12mp.jpg", "4000x3000 JPEG q90, a normal camera/scanner file"),
    "png-100mp": ("scan-10k.png", "10000x10000 RGB PNG (compress level 1)"),
    "tiff-100mp": ("scan-10k.tif", "10000x10000 RGB TIFF, uncompressed (an archival master)"),
    "webp-100mp": ("scan-10k.webp", "10000x10000 lossy WebP q90"),
    "webp-bomb": ("bomb.webp", "38-byte lossless WebP declaring 16383x15000 (flat white)"),
    "jpeg-prog": ("scan-10k-progressive.jpg", "10000x10000 progressive JPEG q85"),
    "png-inter": ("scan-10k-interlaced.png", "10000x10000 interlaced (Adam7) RGB PNG"),
    "gif-100mp": ("scan-10k.gif", "10000x10000 GIF, 64 colours"),
    "heic-24mp": ("scan-24mp.heic", "6000x4000 HEIC q70 (pillow-heif; the bundled libvips has no HEVC)"),
}


def _photo(size):
    from PIL import Image

    from zeuge_lite.demo import PHOTOS_DIR
    photo = Image.open(PHOTOS_DIR / "kodak-kodim05.png").convert("RGB")
    return photo.resize(size, Image.Resampling.BICUBIC)


def _interlaced_png(path):
    import pyvips  # Pillow cannot write Adam7 PNGs
    from PIL import Image
    rgb = _photo((10000, 10000))
    pyvips.Image.new_from_memory(rgb.tobytes(), rgb.width, rgb.height, 3, "uchar").pngsave(
        str(path), interlace=True, compression=1)
    Image.open(path).close()


def make_cases(folder):
    """Write the test files once (they are kept in --keep DIR between runs)."""
    import pillow_heif
    from PIL import Image
    pillow_heif.register_heif_opener()
    Image.MAX_IMAGE_PIXELS = None
    makers = {
        "scan-12mp.jpg": lambda p: _photo((4000, 3000)).save(p, quality=90),
        "scan-10k.png": lambda p: _photo((10000, 10000)).save(p, compress_level=1),
        "scan-10k.tif": lambda p: _photo((10000, 10000)).save(p),
        "scan-10k.webp": lambda p: _photo((10000, 10000)).save(p, quality=90),
        "bomb.webp": lambda p: Image.new("RGB", (16383, 15000), "white").save(p, lossless=True, quality=0,
                                                                              method=0),
        "scan-10k-progressive.jpg": lambda p: _photo((10000, 10000)).save(p, quality=85, progressive=True),
        "scan-10k-interlaced.png": _interlaced_png,
        "scan-10k.gif": lambda p: _photo((10000, 10000)).quantize(64).save(p),
        "scan-24mp.heic": lambda p: _photo((6000, 4000)).save(p, "HEIF", quality=70),
    }
    for name, make in makers.items():
        path = folder / name
        if not path.exists():
            print(f"making {name} ...", flush=True)
            make(path)
    return folder


def _decode_pillow(data, side):
    """Pillow as the app did before: lazy open, JPEG draft, load the first frame, to RGB, thumbnail."""
    import pillow_heif
    from PIL import Image, ImageOps
    pillow_heif.register_heif_opener()
    Image.MAX_IMAGE_PIXELS = None
    image = Image.open(io.BytesIO(data))
    if image.format == "JPEG":
        image.draft("RGB", (side, side))
    image.load()
    rgb = (ImageOps.exif_transpose(image) or image).convert("RGB")
    rgb.thumbnail((side, side), Image.Resampling.BICUBIC, reducing_gap=2.0)
    return rgb.size


def _decode_pyvips(data, side):
    """libvips thumbnail: shrink-on-load where the format has it (JPEG, WebP), else a sequential streamed
    decode shrunk as it goes."""
    import pyvips
    image = pyvips.Image.thumbnail_buffer(data, side, height=side, size="down", option_string="fail_on=error")
    image.write_to_memory()
    return image.width, image.height


def _decode_zeuge(data, side):
    """The app's guarded decode (zeuge_lite.similarity.decode)."""
    from zeuge_lite.similarity.decode import decode_rgb, open_image
    return decode_rgb(open_image(data, 250_000_000), side).size


METHODS = {"pillow": _decode_pillow, "pyvips": _decode_pyvips, "zeuge": _decode_zeuge}


def peak_rss_mb():
    """This process's peak resident memory in MB (VmHWM on Linux, else ru_maxrss)."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(method, path, side):
    """Run one decode in this (fresh) process and print its figures as JSON."""
    decode = METHODS[method]
    if method == "pyvips":
        import pyvips  # noqa: F401  (imports count towards the base, not the decode)
    else:
        import PIL.Image  # noqa: F401
        if method == "zeuge":
            import zeuge_lite.similarity.decode  # noqa: F401
    data = Path(path).read_bytes()
    base = peak_rss_mb()
    start = time.perf_counter()
    try:
        size, error = decode(data, side), None
    except Exception as exc:  # noqa: BLE001 - a refusal is a result too
        size, error = None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:60]}"
    seconds = time.perf_counter() - start
    print(json.dumps({"s": seconds, "base_mb": base, "peak_mb": peak_rss_mb(), "size": size, "error": error}))


def measure(method, path, side):
    out = subprocess.run([sys.executable, __file__, "--child", method, str(path), str(side)],
                         capture_output=True, text=True, check=False)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1][:80] if out.stderr else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", help="folder for the generated files (kept between runs)")
    parser.add_argument("--methods", default="pillow,pyvips,zeuge")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--sides", default="1600,320")
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "PATH", "SIDE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], args.child[1], int(args.child[2]))
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-decode-"))
    folder.mkdir(parents=True, exist_ok=True)
    make_cases(folder)
    print(f"{'case':<11} {'file MB':>8} {'side':>5} {'method':<7} {'seconds':>8} {'peak MB':>8} {'+decode MB':>10}")
    for case in args.cases.split(","):
        path = folder / CASES[case][0]
        for side in map(int, args.sides.split(",")):
            for method in args.methods.split(","):
                r = measure(method, path, side)
                if "s" not in r:
                    print(f"{case:<11} {path.stat().st_size / 1e6:>8.1f} {side:>5} {method:<7} failed: {r['error']}")
                    continue
                note = f"  refused: {r['error']}" if r["error"] else ""
                print(f"{case:<11} {path.stat().st_size / 1e6:>8.1f} {side:>5} {method:<7} {r['s']:>8.2f} "
                      f"{r['peak_mb']:>8.0f} {r['peak_mb'] - r['base_mb']:>10.0f}{note}", flush=True)
    for case in args.cases.split(","):
        print(f"  {case}: {CASES[case][1]}")


if __name__ == "__main__":
    main()
