"""A picture of why a pair verified: the two thumbnails side by side, inlier matches joined by lines. Pure."""
import io

import numpy as np
from PIL import Image, ImageDraw

from zeuge_lite.similarity.verify import matched_points, screen_priors

GAP = 16          # px between the two thumbnails
MAX_LINES = 40    # more lines hide the pictures; an even sample of the matches is drawn
COLOURS = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240))


def match_picture(thumb_a, thumb_b, record_a, record_b, text=False):
    """(PNG bytes, matches drawn, Verification) for two decoded thumbnails and their PageFeatures records; a
    text pair is matched from its bodies' similarity, as the analysis matched it."""
    text = text or record_a.is_text_page or record_b.is_text_page
    priors = screen_priors(record_a, record_b) if text else None
    verification, src, dst = matched_points(record_a, record_b, text, priors=priors)
    a, b = thumb_a.convert("RGB"), thumb_b.convert("RGB")
    canvas = Image.new("RGB", (a.width + GAP + b.width, max(a.height, b.height)), "white")
    canvas.paste(a, (0, 0))
    canvas.paste(b, (a.width + GAP, 0))
    lines = _sample(src, dst, MAX_LINES) if src is not None and len(src) else []
    draw = ImageDraw.Draw(canvas)
    scale_a = np.float32([a.width / record_a.width, a.height / record_a.height])
    scale_b = np.float32([b.width / record_b.width, b.height / record_b.height])
    for n, (p, q) in enumerate(lines):
        start, end = p * scale_a, q * scale_b + np.float32([a.width + GAP, 0])
        colour = COLOURS[n % len(COLOURS)]
        draw.line([tuple(start), tuple(end)], fill=colour, width=1)
        for x, y in (start, end):
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], outline=colour, width=1)
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG", optimize=True)
    return buffer.getvalue(), len(lines), verification


def _sample(src, dst, most):
    """Up to `most` matched point pairs, evenly spread over the list."""
    picked = np.unique(np.linspace(0, len(src) - 1, min(most, len(src))).round().astype(int))
    return [(src[i], dst[i]) for i in picked]
