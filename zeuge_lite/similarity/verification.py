"""The verification stage, shared by `flask zeuge scan` and the app's runs: which candidate pairs the global
signals cannot settle, and whether the same physical content is on both (similarity/verify.py). Pure: the
callers pass in where per-image records and earlier pair results come from and keep what this returns."""
from dataclasses import dataclass

from zeuge_lite.similarity.decode import decode_rgb, open_image
from zeuge_lite.similarity.verify import (
    MAX_SIDE,
    ORB_FEATURES,
    PageFeatures,
    page_features,
    runs_of_first_pages,
    screen_task,
    screen_tasks,
    verify_pair,
)

# Bump RECORD_VERSION when page_features changes what a record holds, CHECK_VERSION when verify_pair or the
# screen change what they decide (and with every record change): cached records and pair results of another
# version are then ignored (and recomputed when needed).
RECORD_VERSION = 5  # 2: mirror descriptors at the mirrored keypoints (no second ORB detection); 3: similarity
# screen; 4: photo records at PHOTO_SIDE / PHOTO_FEATURES; 5: smaller pages of text enlarged to MAX_SIDE
CHECK_VERSION = 6  # 6: records 5, and a screened text pair's full match starts from the screen's similarity
# Photo pairs in this cosine band that the hash does not settle are verified: below it no link is possible
# at the default threshold minus grouping.VERIFIED_MARGIN, above it the embedding says "re-scan" reliably.
UNCERTAIN_COSINE = (0.64, 0.85)
HASH_SETTLED = 8  # pHash bits within which a photo pair is a near-duplicate without further checks
# What the first pass says of an image (verify_candidates' hints, stored as features.page_hint): a photo; paper
# that may be a page of text (or was analysed before its record was read at once); paper whose record found
# no page of text (a print on white, a bright photo). Any pair of two papers is judged as pages of text.
NOT_PAPER, PAGE, PAPER_NO_TEXT = 0, 1, 2
# A photo's record (an uncertain photo pair; pages keep verify's 1024 px / 2000 points, which text needs):
# 768 px and 1500 points cost 25.6 against 30.0 ms a record and verify 88 of the 89 true photos/dev pairs the
# scan checks (1024 / 2000: 85), none of the 150 false ones (bench/README.md, "Photo records").
PHOTO_SIDE, PHOTO_FEATURES = 768, 1500
CHECKS_PER_TASK = 16  # pairs matched per task when a runner spreads the full checks over processes
SCREEN_PAIRS_PER_TASK, SCREEN_TASKS = 500, 8  # the body screen is split when it has this many pairs per task
# Records held at once: pairs are verified in parts of whole first contents (sorted keys) whose contents
# number at most this, so a large batch never holds all its records (a page's is 141 KiB, a photo's ~105 KiB:
# 40,000 photos in uncertain pairs would be ~4 GB). The screen forms its blocks within a part; batches under
# this many contents to verify are one part.
RECORDS_AT_ONCE = 4096


@dataclass(frozen=True)
class Check:
    """A pair's verification result, as cached by (sha_a, sha_b, CHECK_VERSION)."""
    verified: bool
    inliers: int
    coverage: float | None
    text: bool


def page_record(data, max_pixels, hint=PAGE):
    """The verification record (bytes) of one image file's content, from its own decode; hint is the first
    pass's (a photo's record is smaller: PHOTO_SIDE; a smaller page of text is enlarged to MAX_SIDE)."""
    side, features = (PHOTO_SIDE, PHOTO_FEATURES) if hint == NOT_PAPER else (MAX_SIDE, ORB_FEATURES)
    rgb = decode_rgb(open_image(data, max_pixels), side)
    return page_features(rgb, side, features, upscale_text=hint != NOT_PAPER).to_bytes()


def first_pass_hint(looks_like_paper, record=None):
    """The hint (NOT_PAPER, PAGE, PAPER_NO_TEXT) of an image from the first pass: whether it looks like paper,
    and its verification record (bytes) when one was made from the same file."""
    if not looks_like_paper:
        return NOT_PAPER
    if record is None:
        return PAGE
    return PAGE if PageFeatures.from_bytes(record).is_text_page else PAPER_NO_TEXT


def needs_check(pair, hints):
    """Whether a candidate pair goes to verification: any pair with a possible page of text or of two papers,
    uncertain photo pairs. (A paper without text beside a photo is a photo pair: outside the uncertain band no
    check could change how it groups.)"""
    if pair.same_file:
        return False
    a, b = hints[pair.a], hints[pair.b]
    if PAGE in (a, b) or (a and b):
        return True
    return UNCERTAIN_COSINE[0] <= pair.cosine < UNCERTAIN_COSINE[1] and pair.hash_distance > HASH_SETTLED


def pair_key(sha_a, sha_b):
    """The cache key of a pair of contents (order-free)."""
    return (sha_a, sha_b) if sha_a < sha_b else (sha_b, sha_a)


def check_records(record_a, record_b, pages=False, orientations=(False, True), priors=None):
    """Verify two records (PageFeatures) -> Check; pages=True when both look like paper in the first pass;
    orientations and priors as verify.verify_pair's."""
    result = verify_pair(record_a, record_b, text=pages, orientations=orientations, priors=priors)
    return Check(result.verified, result.inliers, result.coverage, result.text)


def apply_check(pair, check):
    """Copy a Check onto a grouping.Pair."""
    pair.verified, pair.inliers, pair.coverage, pair.text = check.verified, check.inliers, check.coverage, check.text


def verify_candidates(pairs, shas, hints, records_for, known_checks, run=None):
    """Verify, in place, the candidate pairs that need it; return {pair key: Check} computed here, to cache.

    records_for({sha: hint}) -> {sha: PageFeatures or bytes} for the contents asked (missing ones are skipped),
    called once for each part of at most RECORDS_AT_ONCE contents; known_checks(keys) -> {pair key: Check} from
    earlier runs. Records are asked only for pairs not known.
    Text pairs whose page bodies share nothing (verify.screen_text_pairs) are refused without the full match;
    run(function, tasks) -> iterable of function(task) spreads the screen and then the full matches (default:
    here, in order)."""
    todo = [(pair, pair_key(shas[pair.a], shas[pair.b])) for pair in pairs if needs_check(pair, hints)]
    known = known_checks(sorted({key for _pair, key in todo})) if todo else {}
    missing = sorted({key for _pair, key in todo if key not in known})
    hint_of = {shas[i]: hints[i] for pair, _key in todo for i in (pair.a, pair.b)}
    both_pages = {pair_key(shas[p.a], shas[p.b]) for p, _key in todo if hints[p.a] and hints[p.b]}
    new = {}
    for part in runs_of_first_pages(missing, RECORDS_AT_ONCE):
        wanted = sorted({sha for key in part for sha in key})
        new.update(_verify_part(part, records_for({sha: hint_of[sha] for sha in wanted}), both_pages, run or map))
    for pair, key in todo:
        check = known.get(key) or new.get(key)
        if check is not None:
            apply_check(pair, check)
    return new


def _verify_part(keys, found, both_pages, run):
    """{key: Check} for these pair keys, from the records found for their contents (pairs missing one are
    skipped): the body screen for text pairs, then the full checks."""
    records = _as_records(found)
    keys = [key for key in keys if key[0] in records and key[1] in records]
    new, priors = screen(records, [key for key in keys if _text_pair(records, key, both_pages)], run)
    for results in run(check_task, _tasks([key for key in keys if key not in new], found, both_pages, priors)):
        new.update(results)
    return new


def _text_pair(records, key, both_pages):
    """Whether verify_pair will judge this pair as pages of text (then its coverage gate applies)."""
    return key in both_pages or records[key[0]].is_text_page or records[key[1]].is_text_page


def screen(records, text_keys, run=map):
    """({key: failed Check} for the text pairs whose page bodies share too little to be one page, {key:
    {orientation of the first page (verify_pair's): the bodies' similarity}} for the others, whose full match
    starts there)."""
    parts = min(SCREEN_TASKS, max(1, len(text_keys) // SCREEN_PAIRS_PER_TASK))
    refused, passed = {}, {}
    for results in run(screen_task, screen_tasks(records, text_keys, parts)):
        for key, counts, priors in results:
            if priors:
                passed[key] = priors
            else:
                refused[key] = Check(False, max(counts), None, True)
    return refused, passed


def _tasks(keys, found, both_pages, priors):
    """Full checks in tasks of CHECKS_PER_TASK pairs, each carrying its records as bytes (cheap to send); a
    screened pair is matched only in the orientations its bodies passed the screen in, from their priors."""
    tasks = []
    for start in range(0, len(keys), CHECKS_PER_TASK):
        chunk = keys[start:start + CHECKS_PER_TASK]
        shas = {sha for key in chunk for sha in key}
        tasks.append(({sha: _as_bytes(found[sha]) for sha in shas},
                      [(key, key in both_pages, priors.get(key)) for key in chunk]))
    return tasks


def check_task(task):
    """[(key, Check)] for one task of _tasks: the full match of each of its pairs."""
    found, keys = task
    records = _as_records(found)
    return [(key, check_records(records[key[0]], records[key[1]], pages, tuple(priors or (False, True)), priors))
            for key, pages, priors in keys]


def _as_bytes(record):
    return record.to_bytes() if isinstance(record, PageFeatures) else bytes(record)


def _as_records(found):
    return {sha: PageFeatures.from_bytes(r) if isinstance(r, bytes | bytearray | memoryview) else r
            for sha, r in found.items()}
