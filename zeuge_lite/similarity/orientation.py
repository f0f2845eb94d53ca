"""A canonical orientation for turned scans: the quarter turn that puts a photo's brighter side on top.

Embedding every photo in all four quarter turns costs four model passes. Instead each photo is also embedded
once in its canonical turn: a scan turned by 90 degrees gets the same canonical picture as its original, so the
two canonical views match. Brightness is a coarse, stable cue (skies, lit walls, the white border of a print) that
survives re-scanning, cropping and tone changes; where a photo is almost as lopsided in another direction, that
turn is taken too. bench/README.md has the measurements.

Pages of text have a better cue: their lines. A page whose lines clearly run one way is embedded once, turned so
that they run across (text_lines_turn); it may then be upside down, which the model barely minds on pages.
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


LINES_CLEAR = 2.0  # row-to-column ratio of darkness changes beyond which a page's lines of text run one way


def text_lines_turn(luma):
    """0 when a page's lines of text run across, 1 (a quarter turn counter-clockwise makes them run across) when
    they run down, None when neither is clear: lines alternate dark and light from row to row far more than
    from column to column. luma: the page's grey levels (uint8 array)."""
    darkness = 255.0 - luma.astype(np.float32)
    if min(darkness.shape) < 2:  # a line of pixels has no lines of text
        return None
    rows = np.std(np.diff(darkness.mean(axis=1)))
    columns = np.std(np.diff(darkness.mean(axis=0)))
    if rows >= LINES_CLEAR * columns and rows > 0:
        return 0
    if columns >= LINES_CLEAR * rows and columns > 0:
        return 1
    return None
