"""Candidate pairs from both tiers, then groups without chaining, scores, tiers and uniqueness."""
from dataclasses import dataclass, field

import numpy as np

from zeuge_lite.similarity.hashing import HASH_BITS


@dataclass(frozen=True)
class Thresholds:
    """When two items count as exact copies, near-duplicates or similar (see bench/README.md)."""
    hash_exact: int = 4       # pHash bits that may differ for the same picture re-encoded or resized
    hash_near: int = 8        # ... for a re-scan, tone change or light crop
    cosine_near: float = 0.85  # embedding similarity of a re-scan
    cosine_similar: float = 0.74  # embedding similarity of a series (the grouping floor by default)
    level: str = "similar"    # which tiers form groups: "exact", "near" or "similar"


PRESETS = {
    "exact": Thresholds(level="exact"),
    "near": Thresholds(level="near"),
    "similar": Thresholds(level="similar"),
}
TIER_RANK = {"exact": 0, "near": 1, "similar": 2}
CANDIDATE_COSINE_FLOOR = 0.55  # pairs kept for regrouping: below every threshold the slider offers
CANDIDATE_HASH_FLOOR = 12
RELATED_COSINE = 0.60  # below this, two photos are unrelated and must not share a group
# A photo pair whose details verified (similarity/verification.py) links this far below the visual threshold:
# the geometry says it is the same picture (re-scans turned + framed + toned sit at cosine 0.62-0.73).
VERIFIED_MARGIN = 0.10
VERIFIED_FLOOR = Thresholds.cosine_similar - VERIFIED_MARGIN
# Two pages whose check failed are unrelated, unless their matches still cover this share of the ink: then
# verified links may complete a group of re-scans around them (one pair of four at coverage 0.28 no longer
# splits it). Verified links alone join pages, so no hard negative joins this way (docs-dev: F1 0.927 ->
# 0.960 on a plateau 0.15-0.30; photos/dev: re-scan recall 0.973 -> 0.985 on 0.15-0.25).
RELATED_COVERAGE = 0.20


@dataclass(slots=True)  # millions of pairs in a crowded batch: no dict each (264 -> 192 B a pair)
class Pair:
    """Two items (indexes into the batch) and how alike they are."""
    a: int
    b: int
    cosine: float
    hash_distance: int
    same_file: bool
    turned: bool = False  # the hashes match only once one of the two is turned or mirrored
    verified: bool | None = None  # geometric verification: same content (True), not (False), not asked (None)
    inliers: int | None = None
    coverage: float | None = None  # share of the page's ink the matches cover (text pairs)
    text: bool = False            # verified as a page of text: a failed check makes the pair unrelated
    pixel_equal: bool | None = None  # hashes say "exact": do the pixels agree (similarity/exact.py)? None: not asked

    @property
    def similarity(self):
        """The similarity an archivist reads (cards, item pages, exports): 1 for one file, else the visual one."""
        return 1.0 if self.same_file else self.cosine

    @property
    def strength(self):
        """One number for ordering merges and scoring: the stronger of the two signals."""
        if self.same_file:
            return 1.0
        return max(self.cosine, 1.0 - self.hash_distance / HASH_BITS)


@dataclass
class Group:
    """Items that are all mutually alike at the chosen thresholds."""
    members: list
    score: float
    tier: str
    signal: str
    pairs: list = field(default_factory=list, repr=False)


def pair_tier(pair, t):
    """The tier of a pair at thresholds t, or None if it is not linked at t's level."""
    if pair.same_file:
        tier = "exact"
    elif pair.verified is False:
        return None  # the pages or photos show different content, whatever the global signals say
    elif pair.hash_distance <= t.hash_exact and not pair.turned and pair.pixel_equal:
        tier = "exact"  # the same picture; a tinted or grey copy with the same hash is a near-duplicate
    elif pair.text or pair.hash_distance <= t.hash_near or pair.cosine >= t.cosine_near:
        tier = "near"  # a verified text pair is the same page re-scanned
    elif pair.verified and VERIFIED_FLOOR <= pair.cosine < Thresholds.cosine_similar:
        tier = "near"  # only the details link them: a re-scan turned, framed or toned (a series looks more alike)
    elif pair.cosine >= t.cosine_similar:
        tier = "similar"
    else:
        return None
    return tier if TIER_RANK[tier] <= TIER_RANK[t.level] else None


def pair_signal(pair, t):
    """Which signal links a pair: identical file, verified page content or details, hash or embedding."""
    if pair.same_file:
        return "identical file"
    if pair.text and pair.verified is False:
        return (f"same page, re-scanned: verified through its other copies "
                f"({round(100 * (pair.coverage or 0))} % matched directly)")
    if pair.verified and pair.text:
        matched = round(100 * (pair.coverage or 0))
        return f"same page, re-scanned: page content verified, {matched} % of the page matched"
    if pair.hash_distance <= t.hash_near:
        return "perceptual hash"
    if pair.verified:
        return f"visual embedding, {pair.inliers} matching details verified"
    return "visual embedding"


def view_similarity(a, b):
    """Cosine (len(a) x len(b)) between items given as views (upright, canonical, second canonical): the upright
    views compared, or the canonical ones (which line turned scans up), whichever is higher."""
    upright = a[:, 0] @ b[:, 0].T
    na, nb, views, dim = len(a), len(b), a.shape[1] - 1, a.shape[2]
    canonical = (a[:, 1:].reshape(na * views, dim) @ b[:, 1:].reshape(nb * views, dim).T)
    return np.maximum(upright, canonical.reshape(na, views, nb, views).max(axis=(1, 3)))


def apart_from_plain(pairs, plain):
    """Candidate pairs less those that would join a blank or plain page (plain: a set of indexes) by hash or
    embedding alone: a uniform image's hash is degenerate (four colours hash alike), so it pairs only with an
    identical file or one whose pixels match (run exact.confirm_exact first)."""
    return [p for p in pairs if p.same_file or p.pixel_equal or not (p.a in plain or p.b in plain)]


def uniqueness(nearest):
    """1 − similarity to the nearest other item, clipped to 0..1 (Encord's definition)."""
    return np.clip(1.0 - np.asarray(nearest, dtype=np.float64), 0.0, 1.0)


def related(pair):
    """Whether two items are related at all: a candidate pair above the floors, not merely a chain.

    Two pages of text that failed verification are unrelated (same letterhead, different letter), unless
    their matches cover RELATED_COVERAGE of the page."""
    if pair.text and pair.verified is False and (pair.coverage or 0.0) < RELATED_COVERAGE:
        return False
    return pair.same_file or pair.cosine >= RELATED_COSINE or pair.hash_distance <= CANDIDATE_HASH_FLOOR


def group_items(pairs, t=Thresholds()):
    """Merge the strongest links first; two groups merge only if every cross pair is at least related.

    A link above the threshold starts a merge; the all-pairs check at the lower "related" floor is what
    stops chaining: A~B and B~C never pull in a C that is unrelated to A."""
    linked, relation = {}, {}
    for pair in pairs:
        tier = pair_tier(pair, t)
        if tier is not None:
            linked[(pair.a, pair.b)] = (pair, tier)
        if tier is not None or related(pair):
            relation[(pair.a, pair.b)] = (pair, tier or ("near" if pair.text and t.level != "exact" else t.level))
    cluster_of, members = {}, {}
    for (a, b), (_pair, _tier) in sorted(linked.items(), key=lambda kv: -kv[1][0].strength):
        ca, cb = cluster_of.get(a, a), cluster_of.get(b, b)
        if ca == cb:
            continue
        ma, mb = members.get(ca, [a]), members.get(cb, [b])
        if all(_key(x, y) in relation for x in ma for y in mb):
            members[ca] = ma + mb
            members.pop(cb, None)
            for item in mb:
                cluster_of[item] = ca
            cluster_of[a] = ca
    groups = (_describe(sorted(m), relation, t) for m in members.values() if len(m) > 1)
    return sorted((g for g in groups if shown_at(g, t)), key=lambda g: (-g.score, g.members))


def shown_at(group, t):
    """Whether a group is shown at thresholds t: a series ("similar") only if its score reaches the similarity the
    slider asks for, so no card reads less than the slider; copies are found by their own evidence."""
    return group.tier != "similar" or group.score >= t.cosine_similar


def _key(x, y):
    return (x, y) if x < y else (y, x)


def _describe(members, linked, t):
    return _summary(members, [linked[_key(x, y)] for i, x in enumerate(members) for y in members[i + 1:]], t)


def _summary(members, inner, t):
    """A Group from its members' (pair, tier) list: score = mean similarity (what the item page shows for the
    same pair), tier and signal of the weakest link."""
    weakest_pair, weakest_tier = max(inner, key=lambda pt: (TIER_RANK[pt[1]], -pt[0].strength))
    score = float(np.mean([pair.similarity for pair, _tier in inner]))
    return Group(members, round(min(1.0, score), 4), weakest_tier, pair_signal(weakest_pair, t),
                 [pair for pair, _tier in inner])


def describe_pairs(pairs, t=Thresholds()):
    """A Group for the items of some stored pairs (an expanded card); a pair below every tier counts as similar."""
    members = sorted({p.a for p in pairs} | {p.b for p in pairs})
    if len(members) < 2:
        return None
    every_tier = Thresholds(**{**t.__dict__, "level": "similar"})
    return _summary(members, [(pair, pair_tier(pair, every_tier) or "similar") for pair in pairs], t)
