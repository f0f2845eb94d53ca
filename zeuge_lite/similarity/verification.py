"""The verification stage, shared by `flask zeuge scan` and the app's runs: which candidate pairs the global
signals cannot settle, and whether the same physical content is on both (similarity/verify.py). Pure: the
callers pass in where per-image records and earlier pair results come from and keep what this returns."""
from dataclasses import dataclass

from zeuge_lite.similarity.decode import decode_rgb, open_image
from zeuge_lite.similarity.verify import MAX_SIDE, PageFeatures, page_features, verify_pair

# Bump when page_features or verify_pair change what they decide: cached records and results of another
# version are then ignored (and recomputed when needed).
VERSION = 1
# Photo pairs in this cosine band that the hash does not settle are verified: below it no link is possible
# at the default threshold minus grouping.VERIFIED_MARGIN, above it the embedding says "re-scan" reliably.
UNCERTAIN_COSINE = (0.64, 0.85)
HASH_SETTLED = 8  # pHash bits within which a photo pair is a near-duplicate without further checks


@dataclass(frozen=True)
class Check:
    """A pair's verification result, as cached by (sha_a, sha_b, VERSION)."""
    verified: bool
    inliers: int
    coverage: float | None
    text: bool


def page_record(data, max_pixels):
    """The verification record (bytes) of one image file's content, from its own decode."""
    return page_features(decode_rgb(open_image(data, max_pixels), MAX_SIDE)).to_bytes()


def needs_check(pair, hints):
    """Whether a candidate pair goes to verification: any pair with a possible page, uncertain photo pairs."""
    if pair.same_file:
        return False
    if hints[pair.a] or hints[pair.b]:
        return True
    return UNCERTAIN_COSINE[0] <= pair.cosine < UNCERTAIN_COSINE[1] and pair.hash_distance > HASH_SETTLED


def pair_key(sha_a, sha_b):
    """The cache key of a pair of contents (order-free)."""
    return (sha_a, sha_b) if sha_a < sha_b else (sha_b, sha_a)


def check_records(record_a, record_b, pages=False):
    """Verify two records (PageFeatures) -> Check; pages=True when both look like paper in the first pass."""
    result = verify_pair(record_a, record_b, text=pages)
    return Check(result.verified, result.inliers, result.coverage, result.text)


def apply_check(pair, check):
    """Copy a Check onto a grouping.Pair."""
    pair.verified, pair.inliers, pair.coverage, pair.text = check.verified, check.inliers, check.coverage, check.text


def verify_candidates(pairs, shas, hints, records_for, known_checks):
    """Verify, in place, the candidate pairs that need it; return {pair key: Check} computed here, to cache.

    records_for(shas) -> {sha: PageFeatures or bytes} for the contents asked (missing ones are skipped);
    known_checks(keys) -> {pair key: Check} from earlier runs. Records are asked only for pairs not known."""
    todo = [(pair, pair_key(shas[pair.a], shas[pair.b])) for pair in pairs if needs_check(pair, hints)]
    known = known_checks(sorted({key for _pair, key in todo})) if todo else {}
    missing = sorted({key for _pair, key in todo if key not in known})
    records = _as_records(records_for(sorted({sha for key in missing for sha in key}))) if missing else {}
    both_pages = {pair_key(shas[p.a], shas[p.b]) for p, _key in todo if hints[p.a] and hints[p.b]}
    new = {key: check_records(records[key[0]], records[key[1]], key in both_pages) for key in missing
           if key[0] in records and key[1] in records}
    for pair, key in todo:
        check = known.get(key) or new.get(key)
        if check is not None:
            apply_check(pair, check)
    return new


def _as_records(found):
    return {sha: PageFeatures.from_bytes(r) if isinstance(r, bytes | bytearray | memoryview) else r
            for sha, r in found.items()}
