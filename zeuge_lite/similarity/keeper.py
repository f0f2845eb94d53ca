"""Which copy of a group to keep, with the reasons: resolution first, then lossless over lossy, then bit
depth, then sharpness; the file size alone never decides."""
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from zeuge_lite.similarity.plain import is_plain

LOSSLESS_FORMATS = {"PNG", "TIFF", "GIF"}
RESOLUTION_TOLERANCE = 0.05  # pixel counts within 5 % count as the same resolution
SHARPNESS_SIDE = 512


@dataclass(frozen=True)
class Candidate:
    """What keep-best looks at for one member."""
    key: int
    width: int
    height: int
    format: str
    bit_depth: int | None
    sharpness: float | None
    plain: bool = False  # a blank or plain page: its sharpness says nothing, so it never ranks on it


def sharpness(rgb, plain=None):
    """Variance of the Laplacian on a copy scaled to a common size (comparable across resolutions); 0 for a
    blank or plain image, whatever its brightness and size (`plain`: is_plain's answer, if known already)."""
    if is_plain(rgb) if plain is None else plain:
        return 0.0
    gray = rgb.convert("L")
    gray.thumbnail((SHARPNESS_SIDE, SHARPNESS_SIDE), Image.Resampling.BILINEAR)
    laplacian = np.asarray(gray.filter(ImageFilter.Kernel((3, 3), (0, 1, 0, 1, -4, 1, 0, 1, 0), 1, 128)),
                           dtype=np.float64) - 128.0
    # Pillow leaves the border pixels unfiltered (their raw values, not 128 + Laplacian): leave them out, or a
    # flat image's figure depends on its brightness and size.
    return float(laplacian[1:-1, 1:-1].var()) if min(laplacian.shape) > 2 else 0.0


def _rank(candidate):
    resolution_bucket = math.floor(math.log(max(1, candidate.width * candidate.height))
                                   / math.log1p(RESOLUTION_TOLERANCE))
    return (resolution_bucket, candidate.format in LOSSLESS_FORMATS, candidate.bit_depth or 8,
            0.0 if candidate.plain else candidate.sharpness or 0.0)


def suggest_keeper(candidates):
    """(key of the copy to keep, reasons as short sentences) for two or more candidates."""
    ranked = sorted(candidates, key=_rank, reverse=True)
    best, runner_up = ranked[0], ranked[1]
    return best.key, _reasons(best, runner_up, ranked[1:])


def _reasons(best, runner_up, others):
    b, r = _rank(best), _rank(runner_up)
    reasons = []
    if b[0] > r[0]:
        reasons.append(f"highest resolution ({best.width}×{best.height} pixels)")
    else:
        reasons.append(f"same resolution as the next best ({best.width}×{best.height})")
    if best.format in LOSSLESS_FORMATS and any(o.format not in LOSSLESS_FORMATS for o in others):
        reasons.append(f"lossless {best.format} where others are lossy")
    if (best.bit_depth or 8) > min(o.bit_depth or 8 for o in others):
        reasons.append(f"{best.bit_depth}-bit samples")
    if b[:3] == r[:3] and best.sharpness is not None and not (best.plain or runner_up.plain):
        reasons.append("sharper than the others" if b[3] > r[3] else "as sharp as the others")
    return reasons
