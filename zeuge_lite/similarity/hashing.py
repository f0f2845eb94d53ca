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
    low = _low_dct(gray)
    turned = [low, low.T * _SIGNS[:, None], low * _SIGNS[:, None] * _SIGNS, low.T * _SIGNS]  # np.rot90 by k
    return np.array([_bits(block) for block in turned + [block * _SIGNS for block in turned]], dtype=np.uint64)


# Turning or mirroring the input only transposes the DCT or flips the signs of its odd rows or columns: one DCT
# gives all eight variants' low frequencies (a reversed row's coefficient k is (-1)^k times the original's).
_SIGNS = (-1.0) ** np.arange(8)


def _low_dct(pixels):
    """The 8 x 8 lowest frequencies of imagehash.phash's DCT, on an already reduced array."""
    return scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)[:8, :8]


def _bits(low):
    """imagehash.phash's median rule as a 64-bit integer."""
    bits = (low > np.median(low)).flatten()
    return int(np.packbits(bits).view(">u8")[0])


def min_hamming(upright_a, variants_b):
    """Smallest Hamming distance between a's upright hash and any of b's eight variants (arrays allowed)."""
    xor = np.bitwise_xor(np.asarray(upright_a, dtype=np.uint64)[..., None], variants_b)
    return np.bitwise_count(xor).min(axis=-1)
