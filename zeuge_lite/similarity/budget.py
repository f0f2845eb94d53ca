"""How much memory a decode will take, before it starts, and a process-wide budget that decodes share.

The estimates come from bench/bench_decode.py (peak RSS of each decode in a fresh process, this machine):
Pillow needs up to ~20 bytes per decoded pixel (open, load, mode conversion, thumbnail: 11.5 B/px for an RGB
PNG, 19 B/px for WebP, 12.5 B/px for HEIC); libvips streams with <= 80 MB of working memory, except where the
format forces a whole frame into memory (a GIF's RGBA canvas, an interlaced PNG, a progressive JPEG's
coefficients: 1.0-1.15 bytes per decoded sample measured)."""
import threading
from contextlib import contextmanager

MIB = 1024 * 1024
# One decode may use this much; decodes in one process share it (a second large one waits its turn). With the
# process itself (~150 MB) and the upload's bytes in memory this keeps one upload under 1 GB of RSS.
DECODE_BUDGET_BYTES = 640 * MIB
PILLOW_BYTES_PER_PIXEL = 24  # 19-20 measured for 8-bit modes; 16-bit modes pass through float64
HEIF_BYTES_PER_PIXEL = 9     # pillow-heif decodes whole, shrunk before any conversion (7 measured)
VIPS_WORKING_BYTES = 100 * MIB  # streamed libvips decodes: 45-77 MB measured
FULL_FRAME_BYTES_PER_SAMPLE = 1.25
LIBTIFF_CHUNK_LIMIT = 48 * MIB  # libvips refuses a compressed TIFF strip or tile larger than ~50 MB


def pillow_cost(pixels):
    """Estimated peak bytes of Pillow decoding this many pixels and shrinking them."""
    return pixels * PILLOW_BYTES_PER_PIXEL


def heif_cost(pixels):
    """Estimated peak bytes of pillow-heif decoding a large HEIC and shrinking it straight away."""
    return pixels * HEIF_BYTES_PER_PIXEL


def full_frame_cost(pixels, samples):
    """Estimated bytes of one whole frame held by a decoder (GIF and interlaced PNG in libvips, the coefficients
    of a progressive JPEG in libjpeg)."""
    return int(pixels * samples * FULL_FRAME_BYTES_PER_SAMPLE)


class DecodeBudget:
    """Bytes of decode memory in use in this process; hold() waits until an estimate fits."""

    def __init__(self, total):
        self.total, self.used = total, 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, amount):
        """Reserve amount bytes (capped at the total) for the duration of a decode."""
        amount = min(int(amount), self.total)
        with self._changed:
            self._changed.wait_for(lambda: self.used + amount <= self.total)
            self.used += amount
        try:
            yield
        finally:
            with self._changed:
                self.used -= amount
                self._changed.notify_all()


BUDGET = DecodeBudget(DECODE_BUDGET_BYTES)
