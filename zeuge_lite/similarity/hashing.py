"""Perceptual hashes that survive turning and mirroring: pHash of all eight dihedral variants."""
import numpy as np
import scipy.fftpack
from PIL import Image

HASH_BITS = 64
_HASH_INPUT = 32  # imagehash.phash resizes to hash_size * highfreq_factor = 8 * 4


def hash_input(rgb):
    """The small grayscale square pHash works on (imagehash's own reduction), as float64."""
    return np.asarray(rgb.convert("L").resize((_HASH_INPUT, _HASH_INPUT), Image.Resampling.LANCZOS),
                      dtype=np.float64)


def dihedral_phashes(rgb, gray=None):
    """Eight 64-bit pHashes (upright, turned 90/180/270, and the mirrors of those) as uint64; pass the
    hash_input of rgb as gray when it is already at hand."""
    gray = hash_input(rgb) if gray is None else gray
    variants = [np.rot90(gray, k) for k in range(4)]
    variants += [np.fliplr(v) for v in variants]
    return np.array([_phash_bits(v) for v in variants], dtype=np.uint64)


def _phash_bits(pixels):
    """imagehash.phash's DCT and median rule, on an already reduced array (one resize for eight variants)."""
    dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)
    low = dct[:8, :8]
    bits = (low > np.median(low)).flatten()
    return int(np.packbits(bits).view(">u8")[0])


def min_hamming(upright_a, variants_b):
    """Smallest Hamming distance between a's upright hash and any of b's eight variants (arrays allowed)."""
    xor = np.bitwise_xor(np.asarray(upright_a, dtype=np.uint64)[..., None], variants_b)
    return np.bitwise_count(xor).min(axis=-1)
