"""Blank and plain pages (empty versos, lens-cap frames, one-colour targets): near-uniform images whose
perceptual hash and embedding say nothing about their content, so they must never be joined by those alone."""
import numpy as np
from PIL import Image

SIDE = 128  # enough to see a pencil mark on a page; the check costs ~0.2 ms at this size
INK_LEVEL = 40  # a channel this far from the background colour is ink, not paper grain or JPEG noise
INK_SHARE = 0.003  # a plain page has less than this share of ink pixels (a stamp-sized mark passes as blank)
SPREAD = 4.0  # ... or its pixels spread less than this (standard deviation, 0..255)


def is_plain(rgb):
    """Whether an RGB image is near-uniform: tiny spread of pixel values, or almost no pixels that differ from
    its background colour (the median colour)."""
    small = rgb.convert("RGB")
    if max(small.size) > SIDE:
        small = small.resize(_fit(small.size), Image.Resampling.BOX)
    channels = np.ascontiguousarray(np.asarray(small).reshape(-1, 3).T, dtype=np.int16)  # a row per channel
    if float(channels.std(axis=1).max()) < SPREAD:
        return True
    background = np.median(channels, axis=1)
    ink = (np.abs(channels - background[:, None]) > INK_LEVEL).any(axis=0)
    return float(ink.mean()) < INK_SHARE


def _fit(size):
    scale = SIDE / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
