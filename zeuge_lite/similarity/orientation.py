"""A canonical orientation for turned scans: the quarter turn that puts a photo's brighter side on top.

Embedding every photo in all four quarter turns costs four model passes. Instead each photo is also embedded
once in its canonical turn: a scan turned by 90 degrees gets the same canonical picture as its original, so the
two canonical views match. Brightness is a coarse, stable cue (skies, lit walls, the white border of a print) that
survives re-scanning, cropping and tone changes; where a photo is almost as lopsided in another direction, that
turn is taken too. bench/README.md has the measurements.
"""
import numpy as np

SECOND_CHOICE = 0.7  # a second turn is embedded when its lopsidedness is at least this share of the best's


def canonical_turns(gray):
    """The canonical quarter turn (counterclockwise, 0-3) of a small grayscale array, and a second choice
    (the same turn again when the first is clear)."""
    scores = top_heaviness(gray)
    first, second = (int(turn) for turn in np.argsort(-scores, kind="stable")[:2])
    if scores[first] > 0 and scores[second] >= SECOND_CHOICE * scores[first]:
        return first, second
    return first, first


def top_heaviness(gray):
    """For each quarter turn of gray: how much brighter its top is than its bottom (first moment of brightness)."""
    centred = np.asarray(gray, dtype=np.float64) - np.mean(gray)
    side = centred.shape[0]
    weights = (side - 1) / 2.0 - np.arange(side)  # +1 at the top row, -1 at the bottom (for a square input)
    return np.array([np.rot90(centred, turn).mean(axis=1) @ weights for turn in range(4)])
