""""Exact copy" means the same picture: pixel for pixel equal once decoded and scaled down (re-encoded, resized,
another container). A tinted, grey, cropped or turned copy is a near-duplicate, even when its hash matches."""
import io

import numpy as np
from PIL import Image

SIDE = 32
# Mean difference in grey levels (0-255, over RGB) of the SIDE x SIDE box-scaled thumbnails. Measured on the
# demo photos: re-encodes and resized re-encodes 0.9-1.7, a light blur 0.5-0.8 (the same picture at this
# scale); a 10 % contrast change 2.6-5.3, a warm tint 3.2-4.2, 8 % brighter 5.7+, grey 10+, sepia 18+.
MAX_MEAN_DIFF = 2.0


def signature(image):
    """The image as SIDE x SIDE RGB values, the form two images are compared in."""
    return np.asarray(image.convert("RGB").resize((SIDE, SIDE), Image.BOX), dtype=np.int16)


def signature_of_file(data_or_path):
    """signature() of an encoded image (bytes or a path, e.g. a stored thumbnail); None if it cannot be read."""
    try:
        source = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes | bytearray) else data_or_path
        with Image.open(source) as image:
            return signature(image)
    except (OSError, ValueError):
        return None


def same_pixels(a, b):
    """Whether two signatures show the same picture (False when either is missing)."""
    return a is not None and b is not None and float(np.abs(a - b).mean()) <= MAX_MEAN_DIFF


def confirm_exact(pairs, signature_for, hash_exact):
    """Set pixel_equal on the pairs whose upright hashes say "exact copy" (identical files need no look);
    signature_for(index) gives an item's signature or None. Other pairs keep pixel_equal None."""
    signatures = {}

    def of(index):
        if index not in signatures:
            signatures[index] = signature_for(index)
        return signatures[index]

    for pair in pairs:
        if not pair.same_file and not pair.turned and pair.hash_distance <= hash_exact:
            pair.pixel_equal = same_pixels(of(pair.a), of(pair.b))
    return pairs
