"""The verification stage in the pipeline (similarity/verification.py): which pairs are checked, caching, and
letters on one letterhead kept apart while a re-scan joins its letter — through `flask zeuge scan` and an app
run alike. Pages are drawn by tests/test_verify.py's helpers; photos are the shipped demo photos."""
import io
import json
import os

import pytest
from PIL import Image, ImageOps

from tests.test_verify import letter, rescan
from zeuge_lite import analysis, queries
from zeuge_lite import queries_similarity as qs
from zeuge_lite.demo import PHOTOS_DIR
from zeuge_lite.similarity import scan, verification
from zeuge_lite.similarity.grouping import Pair, Thresholds, group_items, pair_signal, pair_tier
from zeuge_lite.similarity.scan import RecordSpill, scan_folder
from zeuge_lite.similarity.verification import Check, needs_check, page_record, verify_candidates
from zeuge_lite.tasks import huey

MODEL = "efficientnet-lite0"


def _jpeg(image, quality=85):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def letter_files():
    """Two letters on one letterhead, a re-scan of the first and a turned, mirrored re-scan of it."""
    first, second = letter(1), letter(2)
    turned = rescan(first.transpose(Image.Transpose.TRANSVERSE), angle=-1.0, seed=3)
    return {"letter-1.png": _png(first), "letter-2.png": _png(second),
            "letter-1-rescan.jpg": _jpeg(rescan(first), 80), "letter-1-turned.jpg": _jpeg(turned, 80)}


def _png(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_pages_and_uncertain_photo_pairs_are_checked_settled_ones_are_not():
    page, photo = [True, False, False], [False, False, False]
    assert needs_check(Pair(0, 1, 0.95, 2, False), page)  # a page: even a hash match may be a letterhead
    assert not needs_check(Pair(0, 1, 0.95, 2, True), page)  # the identical file needs no check
    assert needs_check(Pair(1, 2, 0.72, 20, False), photo)
    assert not needs_check(Pair(1, 2, 0.90, 20, False), photo)
    assert not needs_check(Pair(1, 2, 0.72, 6, False), photo)
    assert not needs_check(Pair(1, 2, 0.58, 20, False), photo)


def test_paper_without_text_beside_a_photo_is_checked_as_a_photo_pair(letter_files):
    photo, paper, page = verification.NOT_PAPER, verification.PAPER_NO_TEXT, verification.PAGE
    low, band = Pair(0, 1, 0.60, 20, False), Pair(0, 1, 0.70, 20, False)
    assert not needs_check(low, [paper, photo]) and needs_check(band, [paper, photo])
    assert needs_check(low, [page, photo]) and needs_check(low, [paper, paper]) and needs_check(low, [paper, page])
    assert not needs_check(Pair(0, 1, 0.95, 2, False), [photo, paper])  # the hash settles it, as for photos
    letter = letter_files["letter-1.png"]
    assert verification.first_pass_hint(True, page_record(letter, 10**8)) == page
    plain_print = _jpeg(Image.open(PHOTOS_DIR / "kodak-kodim05.png").convert("L").convert("RGB"))
    assert verification.first_pass_hint(True, page_record(plain_print, 10**8)) == paper
    assert verification.first_pass_hint(True) == page  # no record read: it may be a page
    assert verification.first_pass_hint(False, page_record(letter, 10**8)) == photo


def test_records_are_asked_for_with_each_contents_first_pass_hint():
    photo, page = verification.NOT_PAPER, verification.PAGE
    asked = []
    pairs = [Pair(0, 1, 0.70, 20, False), Pair(1, 2, 0.70, 20, False)]
    verify_candidates(pairs, ["c", "a", "b"], [photo, page, photo], lambda wanted: asked.append(wanted) or {},
                      lambda keys: {})
    assert asked == [{"a": page, "b": photo, "c": photo}] and list(asked[0]) == ["a", "b", "c"]


def test_a_photo_record_is_smaller_than_a_page_record():
    big = _jpeg(Image.open(PHOTOS_DIR / "kodak-kodim05.png").convert("RGB").resize((1536, 1024)))
    photo = verification.PageFeatures.from_bytes(page_record(big, 10**8, verification.NOT_PAPER))
    page = verification.PageFeatures.from_bytes(page_record(big, 10**8))
    assert (photo.width, page.width) == (verification.PHOTO_SIDE, verification.MAX_SIDE)
    assert len(photo.descriptors) <= verification.PHOTO_FEATURES < len(page.descriptors)


def test_cached_results_are_used_without_asking_for_records():
    pairs = [Pair(0, 1, 0.80, 20, False)]

    def no_records(_shas):
        raise AssertionError("a cached pair must not need records")

    known = {("a", "b"): Check(False, 300, 0.12, True)}
    assert verify_candidates(pairs, ["b", "a"], [True, True], no_records, lambda keys: known) == {}
    assert (pairs[0].verified, pairs[0].text, pairs[0].coverage) == (False, True, 0.12)
    assert pair_tier(pairs[0], Thresholds()) is None


def test_a_failed_page_pair_never_links_and_a_verified_one_says_how_much_matched():
    t = Thresholds()
    letterhead = Pair(0, 1, 0.97, 1, False, verified=False, inliers=300, coverage=0.10, text=True)
    same_page = Pair(0, 2, 0.70, 22, False, verified=True, inliers=400, coverage=0.87, text=True)
    assert pair_tier(letterhead, t) is None and pair_tier(same_page, t) == "near"
    assert pair_signal(same_page, t) == "same page, re-scanned: page content verified, 87 % of the page matched"
    # 1 ~ 2 by the embedding alone, but 0 and 1 are different letters: 1 must not chain into 0's group
    chain = Pair(1, 2, 0.90, 20, False)
    groups = [g.members for g in group_items([letterhead, same_page, chain], t)]
    assert len(groups) == 1 and len(groups[0]) == 2 and groups[0] != [0, 1]


def test_a_verified_photo_links_a_little_below_the_visual_threshold_as_a_near_duplicate():
    t = Thresholds()
    assert pair_tier(Pair(0, 1, 0.68, 20, False, verified=True, inliers=90), t) == "near"  # a re-scan, not a series
    assert pair_tier(Pair(0, 1, 0.68, 20, False, verified=True, inliers=90), Thresholds(level="exact")) is None
    assert pair_tier(Pair(0, 1, 0.60, 20, False, verified=True, inliers=90), t) is None  # below the verified floor
    assert pair_tier(Pair(0, 1, 0.80, 20, False, verified=True, inliers=90), t) == "similar"  # alike anyway: a series
    assert pair_tier(Pair(0, 1, 0.68, 20, False), t) is None
    assert pair_tier(Pair(0, 1, 0.80, 20, False, verified=False, inliers=2), t) is None


def _groups(result):
    return sorted(sorted(result.paths[i] for i in g.members) for g in result.groups)


def test_scan_keeps_letters_of_one_letterhead_apart_and_joins_the_rescans(tmp_path, letter_files):
    for name, data in letter_files.items():
        (tmp_path / name).write_bytes(data)
    result = scan_folder(tmp_path, MODEL, Thresholds(), 10**8, workers=1)
    assert _groups(result) == [["letter-1-rescan.jpg", "letter-1-turned.jpg", "letter-1.png"]]
    assert "page content verified" in result.groups[0].signal
    index = {path: i for i, path in enumerate(result.paths)}
    between = [p for p in result.pairs if {p.a, p.b} == {index["letter-1.png"], index["letter-2.png"]}]
    assert between and between[0].verified is False and between[0].text  # it was a candidate, and refused


def test_the_record_spill_keeps_records_in_a_file_it_deletes_at_the_end():
    records = {"a" * 64: page_record(_png(letter(1)), 10**8), "b" * 64: b"x" * 70_000, "c" * 64: b""}
    with RecordSpill() as spill:
        spill.update(records)
        spill["a" * 64] = b"another record for the same content is not kept twice"
        path = f"/proc/self/fd/{spill._file.fileno()}"
        held = os.path.getsize(path)
        assert {sha: spill[sha] for sha in records} == records and len(spill) == 3 and "d" * 64 not in spill
    assert held == sum(map(len, records.values()))
    assert spill._file.closed


def test_a_scan_keeps_its_records_in_the_spill(tmp_path, letter_files, monkeypatch):
    spills, spill_dir = [], tmp_path / "out"
    spill_dir.mkdir()

    class CountedSpill(RecordSpill):
        def __init__(self, folder):
            super().__init__(folder)
            spills.append(self)
            assert os.path.dirname(os.readlink(f"/proc/self/fd/{self._file.fileno()}")) == str(spill_dir)

    monkeypatch.setattr(scan, "RecordSpill", CountedSpill)
    (tmp_path / "in").mkdir()
    for name, data in letter_files.items():
        (tmp_path / "in" / name).write_bytes(data)
    result = scan_folder(tmp_path / "in", MODEL, Thresholds(), 10**8, workers=1, spill_dir=spill_dir)
    assert len(spills) == 1 and len(spills[0]) == len(result.paths) == 4  # every page's record went to the file
    assert spills[0]._file.closed and not list(spill_dir.iterdir())  # nothing left behind


def test_demo_photos_group_as_without_verification(tmp_path):
    """Verification must not change what the photo thresholds already settle (the dev-set defaults)."""
    for path in sorted(PHOTOS_DIR.glob("*.png")):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    photo = Image.open(PHOTOS_DIR / "kodak-kodim05.png").convert("RGB")
    (tmp_path / "kodim05-small.jpg").write_bytes(_jpeg(photo.resize((384, 256)), 70))
    (tmp_path / "kodim05-turned-gray.jpg").write_bytes(_jpeg(ImageOps.grayscale(photo.rotate(90, expand=True))))
    result = scan_folder(tmp_path, MODEL, Thresholds(), 10**8, workers=1)
    for pair in result.pairs:
        pair.verified, pair.text = None, False
    assert _groups(result) == sorted(sorted(result.paths[i] for i in g.members)
                                     for g in group_items(result.pairs, Thresholds()))
    assert ["kodak-kodim05.png", "kodim05-small.jpg", "kodim05-turned-gray.jpg"] in _groups(result)


@pytest.fixture
def immediate():
    huey.immediate = True
    yield
    huey.immediate = False


def _names(conn, batch_id):
    names = {i["id"]: i["filename"] for i in queries.items_of_batch(conn, batch_id)}
    return sorted(sorted(names[i] for i in ids) for _g, ids in analysis.batch_groups(conn, batch_id, MODEL))


def test_app_run_keeps_letters_apart_and_a_rerun_reuses_records_and_results(
        client, conn, world, immediate, letter_files, monkeypatch):
    _user, archive = world.user("an@x.org", plan="pro")
    world.login("an@x.org")
    batch = world.batch(archive)
    world.upload(batch, *letter_files.items())
    client.post(f"/batches/{batch}/similarity/run")
    assert _names(conn, batch) == [["letter-1-rescan.jpg", "letter-1-turned.jpg", "letter-1.png"]]
    records = conn.execute("SELECT count(*) FROM page_records").fetchone()[0]
    checks = conn.execute("SELECT count(*) FROM pair_checks").fetchone()[0]
    assert records == 4 and checks >= 5
    decoded = []
    real = analysis.record_files
    monkeypatch.setattr(analysis, "record_files",
                        lambda wanted, *a, **k: decoded.extend(wanted) or real(wanted, *a, **k))
    world.upload(batch, ("letter-2-copy.jpg", _jpeg(rescan(letter(2), seed=5), 80)))
    client.post(f"/batches/{batch}/similarity/run")
    assert decoded == []  # the new page got its record in the first pass (same file); the others are cached
    assert _names(conn, batch) == [["letter-1-rescan.jpg", "letter-1-turned.jpg", "letter-1.png"],
                                   ["letter-2-copy.jpg", "letter-2.png"]]
    stored = [dict(r) for r in qs.batch_pairs(conn, batch, MODEL)]
    assert all(r["verified"] is not None and r["text_pair"] for r in stored if not r["same_file"])
    cards = client.get(f"/batches/{batch}/similarity/groups").data.decode()
    assert "page content verified" in cards, cards


def test_a_large_verification_holds_a_part_of_the_records_at_a_time(letter_files, monkeypatch):
    """Pairs are verified in parts of whole first contents: records_for is asked for at most RECORDS_AT_ONCE
    contents (or one first content with all its partners) at a time, with the same decisions as in one part (a
    text pair's full match starts from its body screen's similarity, which the other pages of its block can move
    a little: the inliers then differ by a few per cent)."""
    records = {name: page_record(data, 10**8) for name, data in letter_files.items()}
    names = sorted(records)

    def run(limit):
        monkeypatch.setattr(verification, "RECORDS_AT_ONCE", limit)
        pairs = [Pair(a, b, 0.9, 20, False) for a in range(len(names)) for b in range(a + 1, len(names))]
        asked = []
        verify_candidates(pairs, names, [verification.PAGE] * len(names),
                          lambda wanted: asked.append(sorted(wanted)) or {s: records[s] for s in wanted},
                          lambda keys: {})
        return [(p.verified, p.inliers, p.coverage) for p in pairs], asked

    whole, asked_once = run(verification.RECORDS_AT_ONCE)
    parts, asked = run(2)
    assert asked_once == [names] and len(asked) == len(names) - 1  # each first content with its partners
    assert all(len(part) == len(names) - n for n, part in enumerate(asked))
    assert [verified for verified, _i, _c in parts] == [verified for verified, _i, _c in whole]
    assert any(verified for verified, _i, _c in whole)
    assert all(abs(i - j) <= 0.1 * max(i, j) for (_v, i, _c), (_w, j, _d) in zip(parts, whole))


def test_check_version_is_part_of_the_cache_key(conn):
    assert qs.pair_checks(conn, [("a" * 64, "b" * 64)], verification.CHECK_VERSION) == {}
    assert json.dumps(verification.UNCERTAIN_COSINE)  # plain numbers: the bench prints them


def test_a_runner_gets_the_full_checks_and_screened_page_pairs_never_reach_it(letter_files):
    from zeuge_lite.similarity.verification import check_task
    records = {name: page_record(data, 10**8) for name, data in letter_files.items()}
    names = sorted(records)
    pairs = [Pair(a, b, 0.9, 20, False) for a in range(len(names)) for b in range(a + 1, len(names))]
    seen = {}

    def run(function, tasks):
        tasks = list(tasks)
        if function is check_task:  # the body screen's tasks come through the runner too
            seen.update((key, orientations) for _records, keys in tasks for key, _pages, orientations in keys)
        return map(function, tasks)

    hints = [True] * len(names)
    new = verify_candidates(pairs, names, hints, lambda shas: {s: records[s] for s in shas}, lambda keys: {}, run)
    assert len(new) == len(pairs) and set(seen) < set(new)
    assert all(not new[key].verified for key in set(new) - set(seen))
    # a full check matches the first page only the ways its body passed the screen: the turned re-scan is mirrored
    # (and starts from the similarity the screen found for the bodies, one for each way)
    assert list(seen[("letter-1-rescan.jpg", "letter-1.png")]) == [False]
    assert list(seen[("letter-1-turned.jpg", "letter-1.png")]) == [True]
    assert all(prior.shape == (2, 3) for priors in seen.values() for prior in priors.values())
    assert all(new[(name, "letter-1.png")].verified for name in ("letter-1-rescan.jpg", "letter-1-turned.jpg"))
    assert check_task(({}, [])) == []
    alone = [Pair(a, b, 0.9, 20, False) for a in range(len(names)) for b in range(a + 1, len(names))]
    verify_candidates(alone, names, hints, lambda shas: {s: records[s] for s in shas}, lambda keys: {})
    assert [(p.verified, p.inliers) for p in alone] == [(p.verified, p.inliers) for p in pairs]
