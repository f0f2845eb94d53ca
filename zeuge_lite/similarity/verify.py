"""Geometric verification of a candidate pair: is the same physical content on both images?

Pure (numpy + OpenCV, no Flask, no SQL). `page_features` makes a compact per-image record (ORB keypoints of the
image and of its mirror, a coarse ink grid, a cheap text-page flag) that can be cached by content hash via
`to_bytes`/`from_bytes`; `verify_pair` matches two records and fits a full affine with RANSAC
(PERF-FACTS.md, "Geometric verification of candidate pairs").

Turns: ORB descriptors are rotation invariant and a full affine contains any rotation, so the 90/180/270 turns
need no extra matching pass at all; the turn is read back from the fitted matrix. A mirror is an affine with
negative determinant, but ORB descriptors are not mirror invariant, so the record also holds descriptors
computed on the mirrored image at the mirrored keypoints (their points are stored in the unmirrored frame);
that costs one more ORB descriptor pass per image (no second detection: 3.6 ms a photo, 6.6 a page) and one
more match per pair, and only when the direct match did not verify.

Gates: photos verify on the count of distinct inlier points; text pages (either side) additionally need the
inliers to cover most of the inked area on both pages, because a shared letterhead, form template or running
head alone gives many inliers.
"""
import struct
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

from zeuge_lite.similarity.opencv import cv2
import numpy as np
from scipy.spatial import cKDTree

# Feature extraction (PERF-FACTS.md): ORB 2000 features on a long side <= 1024, ratio 0.75, RANSAC 3 px.
MAX_SIDE = 1024
ORB_FEATURES = 2000
RATIO = 0.75
RANSAC_PX = 3.0
POINT_SCALE = 32  # points stored as uint16 in 1/32 px: 1024 * 32 < 65536

# Ink and text-page detection at the analysis size.
INK_CELL = 16          # px per ink-grid cell (a 1024-px page -> 64 cells on the long side)
INK_CELL_SHARE = 0.02  # a cell is inked when this share of its pixels is ink
COVER_RADIUS = 1       # an inlier covers its own ink cell and this many cells around it
# Guided matching for text pages: once the affine is fixed, a point of a matches the nearest of b's points
# within GUIDED_PX of where the affine puts it, if their descriptors differ in <= GUIDED_HAMMING of 256 bits.
# Needed because body text repeats its glyphs, so the ratio test drops nearly all of its matches.
GUIDED_PX = 3.0       # docs-dev sweep: 4 px / 64 bits let hard negatives reach 0.51 coverage, 3 / 40 only 0.31
GUIDED_HAMMING = 40
# A page is text-dominated when most of its ink (ruled lines left out) lies in glyph-sized connected strokes.
# Chosen on docs-dev (letters 0.45-0.97, typed 0.51-1.0, forms 0.25-0.61 of ink in glyphs; B&W prints
# 0.06-0.53) and a dev sample (photos: median 0.12, p95 0.39). Forms need the second rule: their fill-in
# shares the page with ruled boxes, on paper that is >= 51 % flat (prints: median 0.31). Erring towards
# "text" is the safe side: a photo judged as text still verifies on coverage, a page missed does not.
TEXT_GLYPH_SHARE = 0.45
FORM_GLYPH_SHARE, FORM_FLAT_SHARE, FORM_MAX_INK = 0.22, 0.45, 0.13
TEXT_MIN_GLYPHS = 90      # forms have >= 92 glyph-sized components, letters >= 139
TEXT_MAX_INK = 0.25       # a text page is mostly paper (typed pages <= 0.20)
PAPER_MIN_TONE, PAPER_SPREAD, PAPER_SHARE = 128, 16, 0.50  # looks_like_paper
FLAT_STD = 6.0            # grey-level std below which a 15-px neighbourhood counts as blank paper

# Decision thresholds, chosen on docs-dev and checked on photos/dev with bench/bench_verify.py (2026-12-01):
# - photos: different photos among the scan's candidate pairs reach at most 4 distinct inliers (both sets),
#   true pairs have p5 136-249; 25 sits far from both (15..40 give the same figures).
# - text: inliers alone cannot separate (a shared letterhead gives ~300). Guided-match coverage of the ink
#   (GUIDED_PX 3, GUIDED_HAMMING 40): all 1689 docs-dev hard-negative pairs reach at most 0.307 (candidate
#   negatives 0.22); true near text pairs p5 0.30, median 0.55. 0.33 passes no hard negative, 92.5 % of true
#   near pairs, all exact ones. (With 4 px / 64 bits negatives reached 0.51: 0.45 still let 3 through.)
#   Photos/dev at 0.33: no negative passes (max 4 inliers); photos the detector calls text (6 %) cost a
#   little recall (near 98.2 %, similar 98.1 %). The margin over the worst hard negative is thin (0.02).
# Most candidate pairs show different content: matching only the strongest points of both first ends those
# at 1/16 of the full match's cost. (Deciding text pairs on the affine of that quick match, refined on guided
# matches, was tried: true docs-dev pairs passed 87 % instead of 92.5 %, and a hard negative reached 0.354.)
QUICK_POINTS = 500
QUICK_MIN_INLIERS = 8
# A quick match this close to the gate is redone on all points: the strongest points of a crop or
# a rescaled copy overlap little (a true photos/dev pair: 221 inliers in full, 6-8 in the quick match, which
# pixel noise of 0.005 grey levels moved across the gate).
QUICK_RETRY_INLIERS = 4
FULL_RADIUS, FULL_NEIGHBOURS = 32.0, 16  # _fit_near
MIN_INLIERS_PHOTO = 25    # distinct inliers for a photo pair
MIN_INLIERS_TEXT = 40     # distinct RANSAC inliers for a pair where either side is a text page
# Re-measured once wired (strongest-first points change RANSAC's draws): the worst docs-dev hard negative
# reached 0.347, the next 0.320; 0.36 passes none, and 82 % of true text pairs (0.33: 88 %, one negative).
MIN_COVERAGE_TEXT = 0.36  # share of inked cells near a guided match, the smaller of the two pages
# A fitted affine outside these bounds is a degenerate fit, not a re-scan.
MIN_SCALE, MAX_SCALE, MAX_ANISOTROPY = 0.2, 5.0, 2.5

_MAGIC = b"ZVF1"


@dataclass
class PageFeatures:
    """One image's verification record; arrays are compact (uint8/uint16) for caching."""
    width: int
    height: int
    points: np.ndarray           # (n, 2) uint16, 1/POINT_SCALE px
    descriptors: np.ndarray      # (n, 32) uint8
    mirror_points: np.ndarray    # (m, 2) uint16, features of the mirrored image in the unmirrored frame
    mirror_descriptors: np.ndarray
    ink: np.ndarray              # (gh, gw) bool: inked cells of INK_CELL px
    is_text_page: bool
    text_score: float            # share of ink in glyph-sized components

    def to_bytes(self):
        gh, gw = self.ink.shape
        head = struct.pack("<4sHHIIHHf?", _MAGIC, self.width, self.height, len(self.points),
                           len(self.mirror_points), gh, gw, self.text_score, self.is_text_page)
        return b"".join([head, self.points.astype("<u2").tobytes(), self.descriptors.tobytes(),
                         self.mirror_points.astype("<u2").tobytes(), self.mirror_descriptors.tobytes(),
                         np.packbits(self.ink).tobytes()])

    @classmethod
    def from_bytes(cls, data):
        fmt = "<4sHHIIHHf?"
        magic, width, height, n, m, gh, gw, score, is_text = struct.unpack_from(fmt, data)
        if magic != _MAGIC:
            raise ValueError("not a verification record")
        offset = struct.calcsize(fmt)

        def take(count, dtype, shape):
            nonlocal offset
            size = int(np.prod(shape)) * np.dtype(dtype).itemsize
            array = np.frombuffer(data, dtype, count, offset).reshape(shape).copy() if count else \
                np.zeros(shape, np.dtype(dtype).newbyteorder("="))
            offset += size
            return array

        points = take(n * 2, "<u2", (n, 2)).astype(np.uint16)
        descriptors = take(n * 32, np.uint8, (n, 32))
        mirror_points = take(m * 2, "<u2", (m, 2)).astype(np.uint16)
        mirror_descriptors = take(m * 32, np.uint8, (m, 32))
        bits = np.frombuffer(data, np.uint8, -1, offset)
        ink = np.unpackbits(bits)[:gh * gw].reshape(gh, gw).astype(bool)
        return cls(width, height, points, descriptors, mirror_points, mirror_descriptors, ink,
                   bool(is_text), float(score))


@dataclass
class Verification:
    verified: bool
    inliers: int                 # distinct inlier points (the smaller count of the two sides)
    coverage: float | None       # share of inked area covered (text pairs), smaller of the two pages
    turn: int                    # quarter turns counter-clockwise (as PIL's ROTATE_90) taking a to b
    mirrored: bool
    matrix: np.ndarray | None    # 2x3 affine mapping a's analysis pixels onto b's
    text: bool                   # judged as a text pair
    reason: str


def to_gray(image, max_side=MAX_SIDE, upscale=False):
    """A PIL image or an HxW / HxWx3 uint8 array -> gray uint8 array with the long side <= max_side (== with
    upscale: a smaller image is enlarged to it)."""
    array = np.asarray(image)
    if array.ndim == 3:
        array = cv2.cvtColor(np.ascontiguousarray(array[..., :3]), cv2.COLOR_RGB2GRAY)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    h, w = array.shape
    scale = max_side / max(h, w)
    if scale < 1 or upscale and scale > 1:
        array = cv2.resize(array, (max(1, round(w * scale)), max(1, round(h * scale))),
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    return array


_ORBS = {}


def _orb(features=ORB_FEATURES):
    if features not in _ORBS:
        _ORBS[features] = cv2.ORB_create(nfeatures=features)
    return _ORBS[features]


def _detect(gray, features=ORB_FEATURES):
    """ORB keypoints (strongest first: QUICK_POINTS) and their points and descriptors. (Spreading them over an
    8x8 grid was tried: more points on body text, but weaker ones, and true text pairs lost coverage: docs-dev
    true near 93 % -> 83 % verified.)"""
    keypoints, descriptors = _orb(features).detectAndCompute(gray, None)
    return _strongest_first(keypoints, descriptors)


def _strongest_first(keypoints, descriptors):
    if descriptors is None or not keypoints:
        return [], np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    order = np.argsort(-np.array([k.response for k in keypoints]), kind="stable")
    return [keypoints[i] for i in order], cv2.KeyPoint_convert(keypoints)[order], descriptors[order]


def _mirror_features(gray, keypoints, features=ORB_FEATURES):
    """Points (in the unmirrored frame) and descriptors of the mirrored image at the mirrored keypoints.

    ORB's detector is symmetric, so running it again on the mirror (two thirds of ORB's cost) would find the
    same points; only the descriptors differ (the sampling pattern is not)."""
    w = gray.shape[1]
    mirrored = [cv2.KeyPoint((w - 1) - k.pt[0], k.pt[1], k.size, (180.0 - k.angle) % 360.0, k.response, k.octave,
                             k.class_id) for k in keypoints]
    if not mirrored:
        return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    found, descriptors = _orb(features).compute(np.ascontiguousarray(gray[:, ::-1]), mirrored)
    _kept, points, descriptors = _strongest_first(found, descriptors)
    if len(points):
        points[:, 0] = (w - 1) - points[:, 0]
    return points, descriptors


def _pack_points(points):
    return np.clip(np.rint(points * POINT_SCALE), 0, 65535).astype(np.uint16)


def ink_mask(gray):
    """Dark strokes against the local paper tone (tinted, unevenly lit scans)."""
    blur = cv2.GaussianBlur(gray, (3, 3), 0)
    return cv2.adaptiveThreshold(blur, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 20)


def looks_like_paper(luma):
    """Cheap first-pass hint (on the small analysis image's grey levels, uint8) that an image may be a page:
    most of it lies within a few grey levels of one bright paper tone. docs-dev pages: >= 0.65 of their pixels;
    prints <= 0.50; dev photos: 4.8 % reach 0.50. A page missed here is never verified, so the gate errs low."""
    gray = luma.astype(np.int16)
    hist = np.convolve(np.bincount(gray.ravel(), minlength=256), np.ones(9), "same")
    tone = int(np.argmax(hist))
    return tone >= PAPER_MIN_TONE and float((np.abs(gray - tone) <= PAPER_SPREAD).mean()) >= PAPER_SHARE


def text_page_score(gray, ink):
    """(share of ink in glyph-sized components, ruled lines left out; glyph count; ink share)."""
    count, _labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if count <= 1:
        return 0.0, 0, 0.0
    long_side = max(ink.shape)
    w, h, area = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_AREA]
    glyph_max = max(6, long_side // 40)
    glyph = (h >= 3) & (h <= glyph_max) & (w <= 2 * glyph_max) & (area >= 4)
    ruled = ((w >= 8 * h) | (h >= 8 * w)) & (np.maximum(w, h) > long_side // 10)
    total = max(int(area[~ruled].sum()), 1)
    return float(area[glyph].sum() / total), int(glyph.sum()), float(area.sum() / ink.size)


def flat_share(gray):
    """Share of pixels whose 15-px neighbourhood barely varies (blank paper between lines of text)."""
    values = gray.astype(np.float32)
    mean = cv2.blur(values, (15, 15))
    var = cv2.blur(values * values, (15, 15)) - mean * mean
    return float((var < FLAT_STD ** 2).mean())


def is_text(glyph_share, glyphs, ink_share, flat):
    """Text-dominated page: mostly glyph-sized strokes, or (forms) a fair share of them on mostly blank paper.

    flat: the flat share, or a function giving it; only form-like pages need it (a third of the detector's cost)."""
    if glyphs < TEXT_MIN_GLYPHS or ink_share > TEXT_MAX_INK:
        return False
    if glyph_share >= TEXT_GLYPH_SHARE:
        return True
    if glyph_share < FORM_GLYPH_SHARE or ink_share > FORM_MAX_INK:
        return False
    return (flat() if callable(flat) else flat) >= FORM_FLAT_SHARE


def _ink_grid(ink):
    h, w = ink.shape
    gh, gw = -(-h // INK_CELL), -(-w // INK_CELL)
    padded = np.zeros((gh * INK_CELL, gw * INK_CELL), np.float32)
    padded[:h, :w] = ink
    share = padded.reshape(gh, INK_CELL, gw, INK_CELL).mean(axis=(1, 3))
    return share >= INK_CELL_SHARE


def page_features(image, max_side=MAX_SIDE, features=ORB_FEATURES, upscale_text=False):
    """The verification record of one decoded image (RGB or gray, PIL or numpy), from at most `features`
    ORB keypoints on a long side of at most max_side; upscale_text: a smaller page of text is enlarged to it."""
    gray = to_gray(image, max_side)
    ink, glyph_share, text = _text_page(gray)
    if text and upscale_text and max(gray.shape) < max_side:
        # Glyphs at one scale: an 865-px copy of a page against its 1,024-px scan kept 0 screen inliers in its
        # batch (docs-dev). (Photos on white enlarged too, or pages judged enlarged: photos/dev near-duplicate
        # recall 0.997 -> 0.985.)
        gray = to_gray(gray, max_side, upscale=True)
        ink = ink_mask(gray)
    h, w = gray.shape
    keypoints, points, descriptors = _detect(gray, features)
    mirror_points, mirror_descriptors = _mirror_features(gray, keypoints, features)
    return PageFeatures(w, h, _pack_points(points), descriptors, _pack_points(mirror_points),
                        mirror_descriptors, _ink_grid(ink), text, round(glyph_share, 4))


def _text_page(gray):
    """(ink mask, glyph share, whether it is a page of text) of a gray page."""
    ink = ink_mask(gray)
    glyph_share, glyphs, ink_share = text_page_score(gray, ink)
    return ink, glyph_share, is_text(glyph_share, glyphs, ink_share, lambda: flat_share(gray))


_MATCHER = None


def _matcher():
    global _MATCHER
    if _MATCHER is None:
        _MATCHER = cv2.BFMatcher(cv2.NORM_HAMMING)
    return _MATCHER


def _fit(pa, da, pb, db):
    """Ratio-test matches, a RANSAC full affine; (distinct inliers, matrix, inlier points a, inlier points b)."""
    if len(da) < 3 or len(db) < 3:
        return 0, None, None, None
    pairs = _matcher().knnMatch(da, db, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
    if len(good) < 3:
        return 0, None, None, None
    src = pa[[m.queryIdx for m in good]].astype(np.float32) / POINT_SCALE
    dst = pb[[m.trainIdx for m in good]].astype(np.float32) / POINT_SCALE
    return _ransac(src, dst)


def _fit_near(pa, da, pb, db, prior):
    """The full match of _fit, but each point of a is compared only with the FULL_NEIGHBOURS points of b
    nearest to where the quick match's affine puts it (within FULL_RADIUS px): the ratio test among those,
    then the same RANSAC. A tenth of the brute-force cost, and repeated glyphs elsewhere on the page no
    longer fail the ratio test."""
    src_all, dst_all = pa.astype(np.float32) / POINT_SCALE, pb.astype(np.float32) / POINT_SCALE
    if len(src_all) < 3 or len(dst_all) < 3:
        return 0, None, None, None
    target = src_all @ prior[:, :2].T + prior[:, 2]
    _distance, index = cKDTree(dst_all).query(target, k=min(FULL_NEIGHBOURS, len(dst_all)),
                                              distance_upper_bound=FULL_RADIUS)
    index = index.reshape(len(src_all), -1)
    valid = index < len(dst_all)
    near = np.where(valid, index, 0)
    bits = np.bitwise_count(da.view(np.uint64)[:, None, :] ^ db.view(np.uint64)[near]).sum(axis=2)
    bits = np.where(valid, bits, 257).astype(np.int32)
    order = np.argsort(bits, axis=1, kind="stable")
    rows = np.arange(len(src_all))
    best = bits[rows, order[:, 0]]
    second = bits[rows, order[:, 1]] if bits.shape[1] > 1 else np.full(len(src_all), 257)
    good = (best <= 256) & (best < RATIO * second)
    if good.sum() < 3:
        return 0, None, None, None
    return _ransac(src_all[good], dst_all[near[rows, order[:, 0]]][good])


def _ransac(src, dst):
    matrix, mask = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX,
                                        maxIters=2000, confidence=0.995)
    if matrix is None or not _plausible(matrix):
        return 0, None, None, None
    keep = mask.ravel().astype(bool)
    src, dst = src[keep], dst[keep]
    distinct = min(_distinct(src), _distinct(dst))
    return distinct, matrix, src, dst


def _guided(pa, da, pb, db, matrix):
    """Point pairs that agree with the affine both in place and in descriptor (see GUIDED_PX)."""
    src = pa.astype(np.float32) / POINT_SCALE
    target = src @ matrix[:, :2].T + matrix[:, 2]
    dst_all = pb.astype(np.float32) / POINT_SCALE
    distance, index = cKDTree(dst_all).query(target, k=3, distance_upper_bound=GUIDED_PX)
    best = np.full(len(src), 257)
    for column in range(index.shape[1]):
        near = index[:, column] < len(dst_all)
        bits = np.unpackbits(da[near] ^ db[index[near, column]], axis=1).sum(axis=1)
        best[near] = np.minimum(best[near], bits)
    keep = best <= GUIDED_HAMMING
    first = np.where(index[:, 0] < len(dst_all), index[:, 0], 0)
    return src[keep], dst_all[first[keep]]


def _distinct(points):
    return len(np.unique(np.rint(points).astype(np.int32), axis=0)) if len(points) else 0


def _plausible(matrix):
    if not np.isfinite(matrix).all():
        return False
    singular = np.linalg.svd(matrix[:, :2], compute_uv=False)
    return (MIN_SCALE <= singular[1] and singular[0] <= MAX_SCALE
            and singular[0] / max(singular[1], 1e-9) <= MAX_ANISOTROPY)


def _coverage(ink, points):
    """Share of inked cells within COVER_RADIUS cells of an inlier point."""
    total = int(ink.sum())
    if total == 0 or points is None or not len(points):
        return 0.0
    hit = np.zeros(ink.shape, np.uint8)
    cells = np.clip((points // INK_CELL).astype(np.int32), 0, [ink.shape[1] - 1, ink.shape[0] - 1])
    hit[cells[:, 1], cells[:, 0]] = 1
    size = 2 * COVER_RADIUS + 1
    hit = cv2.dilate(hit, np.ones((size, size), np.uint8))
    return float((hit.astype(bool) & ink).sum() / total)


def _orientation(matrix):
    linear = matrix[:, :2]
    mirrored = np.linalg.det(linear) < 0
    if mirrored:  # undo a horizontal mirror of a first, then read the rotation
        linear = linear @ np.diag([-1.0, 1.0])
    angle = np.degrees(np.arctan2(linear[1, 0], linear[0, 0]))
    return int(-round(angle / 90.0)) % 4, bool(mirrored)  # y points down: negate for counter-clockwise


def verify_pair(a, b, text=False, orientations=(False, True), priors=None):
    """Whether the records a and b show the same physical content (see the module docstring); text=True
    judges the pair as pages of text even if neither record's detector says so (turned pages can fool it);
    orientations: whether a is matched as it is (False) and mirrored (True); priors: {mirrored: the body
    screen's similarity from a to b} (screen_task), where the full match starts instead of the quick match."""
    return matched_points(a, b, text, orientations, priors)[0]


def matched_points(a, b, text=False, orientations=(False, True), priors=None):
    """(verify_pair's Verification, inlier points on a, the same points on b) in the records' pixels."""
    text = text or a.is_text_page or b.is_text_page
    best = None
    for mirrored in orientations:
        pa, da = (a.mirror_points, a.mirror_descriptors) if mirrored else (a.points, a.descriptors)
        prior = (priors or {}).get(mirrored)
        result, consistent, src, dst = _verify_oriented(pa, da, b, text, a.ink, prior)
        if best is None or (result.verified, result.inliers) > (best[0].verified, best[0].inliers):
            best = result, src, dst
        if best[0].verified or (consistent and not text):
            break  # the direct orientation has consistent geometry: the mirror cannot be it (a page's
            # symmetric logo or round glyphs give some geometry either way, so pages try both)
    return best


def _verify_oriented(pa, da, b, text, ink_a, prior=None):
    """(Verification, whether this orientation has consistent geometry, inlier points a, b) for one
    orientation of a; prior: where the full match starts (2x3, a to b), else the quick match finds it."""
    if prior is None:
        quick, prior = _quick_prior(pa, da, b)
        if quick < QUICK_MIN_INLIERS:
            return _decide(quick, None, None, text), False, None, None
    inliers, matrix, src, dst = _fit_near(pa, da, b.points, b.descriptors, prior)
    coverage = None
    if text and matrix is not None:
        src, dst = _guided(pa, da, b.points, b.descriptors, matrix)
        coverage = min(_coverage(ink_a, src), _coverage(b.ink, dst))
    return _decide(inliers, coverage, matrix, text), inliers >= MIN_INLIERS_PHOTO, src, dst


def _quick_prior(pa, da, b):
    """(inliers, affine) of the quick match: the QUICK_POINTS strongest points of both, all points when that
    nearly succeeds. Its ratio test runs from a to b, so one side's strongest points can miss the other's
    (a small scan against a larger one: 4 inliers one way, 0 the other); text pairs start from the screen."""
    quick, prior, _src, _dst = _fit(pa[:QUICK_POINTS], da[:QUICK_POINTS], b.points[:QUICK_POINTS],
                                    b.descriptors[:QUICK_POINTS])
    if QUICK_RETRY_INLIERS <= quick < QUICK_MIN_INLIERS:
        quick, prior, _src, _dst = _fit(pa, da, b.points, b.descriptors)
    return quick, prior


def _decide(inliers, coverage, matrix, text):
    turn, mirrored = _orientation(matrix) if matrix is not None else (0, False)
    if matrix is None:
        verified, reason = False, "no consistent geometry"
    elif text:
        if inliers < MIN_INLIERS_TEXT:
            verified, reason = False, f"{inliers} inliers < {MIN_INLIERS_TEXT} (text page)"
        elif coverage < MIN_COVERAGE_TEXT:
            verified, reason = False, f"inliers cover {coverage:.0%} of the ink < {MIN_COVERAGE_TEXT:.0%}"
        else:
            verified, reason = True, f"{inliers} inliers cover {coverage:.0%} of the ink"
    elif inliers < MIN_INLIERS_PHOTO:
        verified, reason = False, f"{inliers} inliers < {MIN_INLIERS_PHOTO}"
    else:
        verified, reason = True, f"{inliers} inliers"
    return Verification(verified, inliers, coverage, turn, mirrored, matrix, text, reason)


# The body screen (verification.verify_candidates): on archival batches the global signals find nearly every
# page pair alike, and a same-letterhead pair needs the full match before its coverage refuses it. A text pair
# is matched in full only if the page *bodies* share content: the SCREEN_POINTS strongest points inside the
# central box (SCREEN_MARGIN off every side, so a letterhead, running head or footer in any quarter turn stays
# out) are matched for all pairs at once through a multi-index on 16-bit descriptor chunks (two descriptors
# within SCREEN_HAMMING bits usually share a chunk), chunk values held by more reference points than the stop
# (SCREEN_STOP, or SCREEN_STOP_SHARE of the reference's pages) are not distinctive (repeated glyphs) and are
# ignored, and each pair's matches (direct and mirrored) are fitted with RANSAC (after a cheap test that some
# similarity could fit them: _consensus_possible). Chosen on docs-dev (a measuring script of 2 Dec, not kept):
# every pair that verifies reaches >= 7 distinct inliers (photos/dev text pairs: >= 5), same-letterhead pairs
# median 0, 99th percentile 11; 5 keeps 1.7 % of docs-dev's text pairs. Erring towards passing is the safe
# side: the full check decides.
# With the similarity fit (_screen_fit): docs-dev's true pairs that verify in full reach >= 6, two that do not
# verify reach 0; its 1,689 hard-negative pairs: p99 10, 50 go on to the full check (the affine: 52, and
# one true pair refused that the full check verifies).
SCREEN_MARGIN = 0.2
SCREEN_POINTS = 300
SCREEN_HAMMING = 56
SCREEN_STOP = 16
# The stop grows with the reference, as a stop word's document frequency does: with a fixed 16 points, a batch
# of 1,000 letters would stop what 160 do not. docs-dev (161 pages: 0.1 x 161 gives the same stop as 16) with
# 160-640 drawn letters of the tests' letterhead added: 2 of the 68 pairs that verify were refused with the fixed
# stop, none with the share (bench/README.md, "The body screen at scale"). Pages are screened in blocks of at most
# SCREEN_BLOCK_PAGES (whole first pages with all their pairs' pages), so a large batch costs in proportion to
# its pages, not their square, and each task carries one block's points.
SCREEN_STOP_SHARE = 0.1
SCREEN_BLOCK_PAGES = 512
SCREEN_MIN_INLIERS = 5
SCREEN_RANSAC_ITERS = (100, 1000)  # RANSAC draws for a pair's matches: few, or >= SCREEN_MANY of them
SCREEN_MANY = 40
SCREEN_EXHAUSTIVE = 24  # runs up to this many matches are first tried cheaply (_consensus_possible)
SCREEN_RUNS_AT_ONCE = 256  # runs of one length that _consensus_possible tries in one array
_CHUNKS = 16  # 256-bit descriptors as 16 uint16 chunks


def _central(record, mirrored):
    """The strongest SCREEN_POINTS points inside the central box (px, float32) and their descriptors."""
    packed, descriptors = ((record.mirror_points, record.mirror_descriptors) if mirrored
                           else (record.points, record.descriptors))
    points = packed.astype(np.float32) / POINT_SCALE
    lo, hi = SCREEN_MARGIN * np.float32([record.width, record.height]), \
        (1 - SCREEN_MARGIN) * np.float32([record.width, record.height])
    keep = ((points >= lo) & (points <= hi)).all(axis=1)
    return points[keep][:SCREEN_POINTS], descriptors[keep][:SCREEN_POINTS]


def _screen_side(records, shas, owner_of, mirrors, central):
    """Points, descriptors, owner and mirrored flag of the central points of these pages (direct, and mirrored
    too when mirrors); central: {(sha, mirrored): _central's result}, filled as they are first needed."""
    side = []
    for sha in shas:
        for mirrored in (False, True) if mirrors else (False,):
            if (sha, mirrored) not in central:
                central[sha, mirrored] = _central(records[sha], mirrored)
            points, descriptors = central[sha, mirrored]
            side.append((points, descriptors, np.full(len(descriptors), owner_of[sha]),
                         np.full(len(descriptors), mirrored)))
    return tuple(np.concatenate(column) for column in zip(*side))


def _chunk_candidates(ref_descriptors, query_descriptors, stop, wanted_refs):
    """(query index, reference index) of every pair sharing a 16-bit chunk held by at most `stop` reference
    points (all of them count), among the references wanted_refs marks (duplicates possible)."""
    ref_keys, query_keys = ref_descriptors.view(np.uint16), query_descriptors.view(np.uint16)
    subset = np.flatnonzero(wanted_refs)
    queries, refs = [], []
    for chunk in range(_CHUNKS):
        held = np.bincount(ref_keys[:, chunk], minlength=1 << 16)
        keys = ref_keys[subset, chunk]
        order = np.argsort(keys, kind="stable")
        counts = np.bincount(keys, minlength=1 << 16)
        value = query_keys[:, chunk]
        count = np.where(held[value] > stop, 0, counts[value])
        lo = (np.cumsum(counts) - counts)[value]
        query = np.repeat(np.arange(len(value)), count)
        start = np.repeat(lo - np.cumsum(count) + count, count)
        queries.append(query)
        refs.append(subset[order[start + np.arange(len(query))]])
    return np.concatenate(queries), np.concatenate(refs)


def _one_to_one(group, first, second, distance):
    """Indexes keeping, per group, each `first` once with its nearest `second` (ties: stable)."""
    order = np.lexsort((distance, first, group))
    keep = np.ones(len(order), bool)
    keep[1:] = (group[order][1:] != group[order][:-1]) | (first[order][1:] != first[order][:-1])
    return order[keep]


def screen_text_pairs(records, keys):
    """{pair key: (distinct RANSAC inliers among the page bodies' matches as they are, with the first page
    mirrored)} for pairs of records (see above)."""
    return {key: counts for task in screen_tasks(records, keys) for key, counts, _priors in screen_task(task)}


def screen_priors(a, b):
    """verify_pair's priors for two records screened alone (the picture of why a text pair matched)."""
    return screen_task(screen_tasks({"a": a, "b": b}, [("a", "b")])[0])[0][2]


def screen_tasks(records, keys, parts=1):
    """The screen of these pairs as independent tasks for screen_task: one or more per block of at most
    SCREEN_BLOCK_PAGES pages (runs_of_first_pages), at least `parts` in all when there are that many first
    pages, split by the pairs' first page (query side). Every task of a block holds all the block's pages
    (reference side, which decides the stop chunks), so the results do not depend on `parts`."""
    blocks = runs_of_first_pages(sorted(keys), SCREEN_BLOCK_PAGES)
    tasks, central = [], {}
    for block in blocks:
        shas = sorted({sha for key in block for sha in key})
        owner_of = {sha: n for n, sha in enumerate(shas)}
        reference = _screen_side(records, shas, owner_of, False, central)[:3]
        stop = max(SCREEN_STOP, SCREEN_STOP_SHARE * len(shas))
        for part in _balanced(block, -(-parts // len(blocks))):
            firsts = sorted({a for a, _b in part})
            tasks.append((shas, reference, stop, _screen_side(records, firsts, owner_of, True, central),
                          [(owner_of[a], owner_of[b]) for a, b in part]))
    return tasks


def runs_of_first_pages(keys, limit):
    """Sorted pair keys cut into runs of whole first pages whose pages number at most `limit` (or one first
    page's pairs, however many)."""
    blocks, pages = [], set()
    for first, run in groupby(keys, key=itemgetter(0)):
        run = list(run)
        mine = {first, *(b for _a, b in run)}
        if blocks and len(pages | mine) <= limit:
            blocks[-1].extend(run)
            pages |= mine
        else:
            blocks.append(run)
            pages = mine
    return blocks


def _balanced(keys, parts):
    """Sorted keys cut into up to `parts` runs of about equal length that never split one first page."""
    runs, size = [], -(-len(keys) // max(1, parts))
    for key in keys:
        if runs and (len(runs[-1]) < size or runs[-1][-1][0] == key[0]):
            runs[-1].append(key)
        else:
            runs.append([key])
    return runs


def screen_task(task):
    """[(pair key, (distinct inliers as it is, mirrored), {mirrored: prior for verify_pair})] for one task of
    screen_tasks (the priors of the orientations with at least SCREEN_MIN_INLIERS)."""
    shas, (rp, rd, ro), stop, (qp, qd, qo, qm), pairs = task
    n = len(shas)
    wanted = np.zeros((n, n), bool)
    for a, b in pairs:
        wanted[a, b] = True
    qi, ri = _chunk_candidates(rd, qd, stop, wanted.any(axis=0)[ro])
    keep = wanted[qo[qi], ro[ri]]
    qi, ri = qi[keep], ri[keep]
    distance = np.bitwise_count(qd[qi].view(np.uint64) ^ rd[ri].view(np.uint64)).sum(axis=1)
    keep = distance <= SCREEN_HAMMING
    qi, ri, distance = qi[keep], ri[keep], distance[keep]
    group = (qo[qi].astype(np.int64) * n + ro[ri]) * 2 + qm[qi]
    best = _one_to_one(group, qi, ri, distance)
    qi, ri, group, distance = qi[best], ri[best], group[best], distance[best]
    best = _one_to_one(group, ri, qi, distance)
    qi, ri, group = qi[best], ri[best], group[best]
    order = np.argsort(group, kind="stable")
    qi, ri, group = qi[order], ri[order], group[order]
    bounds = np.flatnonzero(np.r_[True, group[1:] != group[:-1], True])
    src, dst = qp[qi], rp[ri]
    src[group % 2 == 1, 0] *= -1  # mirrored matches: see _screen_fit
    found = {}
    for start, end in _consensus_possible(src, dst, bounds):
        found[int(group[start])] = _screen_fit(src[start:end], dst[start:end])
    return [((shas[a], shas[b]), *_counts_and_priors(found, (a * n + b) * 2)) for a, b in pairs]


def _counts_and_priors(found, group):
    """((inliers as it is, mirrored), {mirrored: similarity from the first page to the second} for the
    orientations that pass) of one pair's screen fits ({group: (inliers, matrix)}; a mirrored fit maps the
    x-negated points, so its first column is negated back: verify_pair's mirrored points are unmirrored)."""
    counts, priors = [], {}
    for mirrored in (False, True):
        inliers, matrix = found.get(group + mirrored, (0, None))
        counts.append(inliers)
        if inliers >= SCREEN_MIN_INLIERS:
            priors[mirrored] = matrix * np.float64([[-1, 1, 1]]) if mirrored else matrix
    return tuple(counts), priors


def _consensus_possible(src, dst, bounds):
    """The (start, end) runs of matches (one pair's one orientation each) that RANSAC could fit: all runs
    longer than SCREEN_EXHAUSTIVE, and shorter runs where the similarity through some two of their matches
    puts at least SCREEN_MIN_INLIERS of them within 3 x RANSAC_PX (every two-match similarity is tried, for
    all runs of one length at once). Most body-screen runs are a handful of chance matches: this refuses them
    at a fraction of RANSAC's cost, and never a run RANSAC would pass: if some similarity puts k matches within
    RANSAC_PX, the one through the two farthest apart of them puts all k within 3 x RANSAC_PX."""
    starts, lengths = bounds[:-1], np.diff(bounds)
    runs = [(int(s), int(s + m)) for s, m in zip(starts, lengths) if m > SCREEN_EXHAUSTIVE]
    z_src = src[:, 0] + 1j * src[:, 1].astype(np.complex64)
    z_dst = dst[:, 0] + 1j * dst[:, 1].astype(np.complex64)
    for length in range(SCREEN_MIN_INLIERS, SCREEN_EXHAUSTIVE + 1):
        chosen = starts[lengths == length]
        for part in range(0, len(chosen), SCREEN_RUNS_AT_ONCE):
            some = chosen[part:part + SCREEN_RUNS_AT_ONCE]
            index = some[:, None] + np.arange(length)
            fits = _two_point_support(z_src[index], z_dst[index]) >= SCREEN_MIN_INLIERS
            runs.extend((int(s), int(s + length)) for s in some[fits])
    return sorted(runs)


def _two_point_support(z_src, z_dst):
    """For each row (g, m) of matches as complex points: the most matches any similarity through two of them
    puts within 3 x RANSAC_PX."""
    i, j = np.triu_indices(z_src.shape[1], 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = (z_dst[:, j] - z_dst[:, i]) / (z_src[:, j] - z_src[:, i])
        shift = z_dst[:, i] - scale * z_src[:, i]
        error = np.abs(scale[:, :, None] * z_src[:, None, :] + shift[:, :, None] - z_dst[:, None, :])
    return (error <= 3 * RANSAC_PX).sum(axis=2).max(axis=1)


def _screen_fit(src, dst):
    """(distinct RANSAC inliers, the similarity) of one pair's (one orientation's) body matches; (0, None)
    below SCREEN_MIN_INLIERS.

    A similarity (turn, scale, shift: what a re-scan does to a page body), not a full affine: two points a draw
    instead of three, so a re-scan whose body matches are 12-15 % right is found in 100 draws, where the affine
    missed it in 1,000 at some point counts (a drawn letter's re-scan: 0 or 4 inliers at 108 / 149 matches).
    Mirrored points are in the unmirrored page's frame: screen_task negates their x, so that a mirrored scan's
    body is a similarity of the other's too."""
    if len(src) < SCREEN_MIN_INLIERS:
        return 0, None
    matrix, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX,
                                               maxIters=SCREEN_RANSAC_ITERS[len(src) >= SCREEN_MANY],
                                               confidence=0.995)
    keep = mask.ravel().astype(bool) if matrix is not None else None
    if keep is None or keep.sum() < SCREEN_MIN_INLIERS or not _plausible(matrix):
        return 0, None
    return min(_distinct(src[keep]), _distinct(dst[keep])), matrix
