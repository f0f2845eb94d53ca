"""The pure similarity stages: decode, hashing, grouping (no chaining), uniqueness."""
import io
import warnings

import imagehash
import numpy as np
import pytest
from PIL import Image

from zeuge_lite.similarity.decode import ImageRejected, decode_rgb, open_image
from zeuge_lite.similarity.grouping import (Pair, Thresholds, describe_pairs, group_items, pair_tier, uniqueness,
                                            view_similarity)
from zeuge_lite.similarity.neighbours import candidate_pairs
from zeuge_lite.similarity.hashing import dihedral_phashes, min_hamming
from zeuge_lite.similarity.orientation import canonical_turns
from zeuge_lite.similarity.embedding import l2_normalise

PHOTOS = __import__("zeuge_lite.demo", fromlist=["PHOTOS_DIR"]).PHOTOS_DIR


def _photo(name="kodak-kodim05.png"):
    return Image.open(PHOTOS / name).convert("RGB")


def test_upright_hash_is_imagehash_phash():
    image = _photo()
    assert f"{int(dihedral_phashes(image)[0]):016x}" == str(imagehash.phash(image))


@pytest.mark.parametrize("transform", [Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180,
                                       Image.Transpose.ROTATE_270, Image.Transpose.FLIP_LEFT_RIGHT])
def test_turned_and_mirrored_copies_match_by_hash(transform):
    image = _photo()
    turned = dihedral_phashes(image.transpose(transform))
    assert min_hamming(dihedral_phashes(image)[0], turned) <= 2
    other = dihedral_phashes(_photo("kodak-kodim23.png"))
    assert min_hamming(dihedral_phashes(image)[0], other) > 12


def test_jpeg_draft_decodes_a_large_scan_small_and_upright():
    big = Image.new("RGB", (4000, 3000), (90, 120, 150))
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 8
    big.save(buffer, "JPEG", quality=90, exif=exif)
    image = open_image(buffer.getvalue(), 50_000_000)
    rgb = decode_rgb(image, 320)
    assert max(rgb.size) == 320 and rgb.size[1] > rgb.size[0]  # orientation 8 turns it to portrait
    assert image.size[0] <= 1000  # draft mode decoded at a fraction of the full size


def test_open_image_refuses_bytes_that_are_not_an_image():
    with pytest.raises(ImageRejected, match="not an image"):
        open_image(b"Dear Sir, this is a letter typed as plain text.", 1_000_000)


def test_open_image_says_a_broken_gif_is_a_broken_gif():
    with pytest.raises(ImageRejected, match="looks like a GIF file, but it is broken"):
        open_image(b"GIF89a but not really", 1_000_000)


def _pair(a, b, cosine, hash_distance=32, same=False, pixel_equal=None):
    return Pair(a, b, cosine, hash_distance, same, pixel_equal=pixel_equal)


def test_chain_does_not_join_unrelated_ends():
    # A~B and B~C are strong, but A and C are unrelated: C must not join A's group because of B.
    pairs = [_pair(0, 1, 0.95), _pair(1, 2, 0.90), _pair(0, 2, 0.20)]
    groups = group_items(pairs)
    assert [g.members for g in groups] == [[0, 1]]


def test_group_of_mutually_similar_items_and_its_tier_and_score():
    pairs = [_pair(0, 1, 0.99, 2, pixel_equal=True), _pair(0, 2, 0.80), _pair(1, 2, 0.78), _pair(3, 4, 0.5, 0, True)]
    groups = group_items(pairs)
    assert [g.members for g in groups] == [[3, 4], [0, 1, 2]]
    exact, series = groups
    assert (exact.tier, exact.signal, exact.score) == ("exact", "identical file", 1.0)
    assert series.tier == "similar" and series.signal == "visual embedding"
    assert 0.78 <= series.score <= 0.99


def test_levels_and_threshold_change_groups_without_new_features():
    pairs = [_pair(0, 1, 0.99, 1, pixel_equal=True), _pair(2, 3, 0.90, 30), _pair(4, 5, 0.75, 30)]

    def members(thresholds):
        return sorted(g.members for g in group_items(pairs, thresholds))
    assert members(Thresholds(level="exact")) == [[0, 1]]
    assert members(Thresholds(level="near")) == [[0, 1], [2, 3]]
    assert members(Thresholds(level="similar")) == [[0, 1], [2, 3], [4, 5]]
    assert members(Thresholds(cosine_similar=0.8)) == [[0, 1], [2, 3]]


def test_no_series_reads_less_than_the_slider_asks():
    # A chain 0~1~2 whose ends are merely related: linked at 0.74, its mean score (0.73) is below 0.74.
    pairs = [_pair(0, 1, 0.76, 30), _pair(1, 2, 0.76, 30), _pair(0, 2, 0.66, 30), _pair(3, 4, 0.95, 30)]
    for slider in (0.74, 0.70, 0.62):
        groups = group_items(pairs, Thresholds(cosine_similar=slider))
        assert all(g.score >= slider for g in groups if g.tier == "similar")
    assert [g.members for g in group_items(pairs, Thresholds(cosine_similar=0.74))] == [[3, 4]]
    assert [g.members for g in group_items(pairs, Thresholds(cosine_similar=0.70))] == [[3, 4], [0, 1, 2]]
    assert pair_tier(_pair(0, 1, 0.1, 9), Thresholds()) is None
    assert pair_tier(Pair(0, 1, 0.7, 0, False, turned=True), Thresholds()) == "near"  # a turned re-scan


def test_candidate_pairs_match_turned_items_by_their_canonical_views_and_report_nearest():
    rng = np.random.default_rng(1)
    views = l2_normalise(rng.normal(size=(9, 16))).reshape(3, 3, 16).astype(np.float32)
    views[1, 1:] = views[0, 1]  # item 1 is item 0 turned: other upright view, same canonical view
    hashes = np.array([[1 << i for i in range(8)]] * 3, dtype=np.uint64) * np.array([[1], [3], [7]], np.uint64)
    pairs, nearest, _index = candidate_pairs(["a", "b", "c"], hashes, views)
    match = next(p for p in pairs if (p.a, p.b) == (0, 1))
    assert match.cosine == pytest.approx(1.0, abs=1e-5)
    assert nearest[0] == pytest.approx(1.0, abs=1e-5) and nearest[2] < 0.9
    assert uniqueness(nearest)[0] == pytest.approx(0.0, abs=1e-5)


def test_views_compare_upright_with_upright_and_canonical_with_canonical_only():
    a, b = np.eye(4, dtype=np.float32)[[0, 1, 1]], np.eye(4, dtype=np.float32)[[1, 2, 3]]
    assert view_similarity(a[None], b[None])[0, 0] == 0.0  # a's canonical view is b's upright: no match
    b[2] = a[2]  # b's second canonical choice is a's first
    assert view_similarity(a[None], b[None])[0, 0] == 1.0


def test_candidate_pairs_for_new_rows_only():
    rng = np.random.default_rng(2)
    views = l2_normalise(rng.normal(size=(15, 8))).reshape(5, 3, 8).astype(np.float32)
    views[4] = views[2]
    hashes = rng.integers(0, 2**63, size=(5, 8), dtype=np.int64).astype(np.uint64)
    all_pairs, _, _ = candidate_pairs(list("abcde"), hashes, views)
    new_pairs, _, _ = candidate_pairs(list("abcde"), hashes, views, rows=[4])
    assert {(p.a, p.b) for p in new_pairs} == {(p.a, p.b) for p in all_pairs if 4 in (p.a, p.b)}
    assert (2, 4) in {(p.a, p.b) for p in new_pairs}


def test_canonical_turn_brings_the_brighter_side_to_the_top():
    ramp = np.tile(np.linspace(255, 0, 32)[:, None], (1, 32))  # bright top, dark bottom
    assert canonical_turns(ramp) == (0, 0)
    assert canonical_turns(np.rot90(ramp, -1)) == (1, 1)  # bright right side: a quarter turn left puts it on top
    assert canonical_turns(np.rot90(ramp, 2)) == (2, 2)
    for turn in range(4):  # the same photo turned any way has one canonical picture
        first, _second = canonical_turns(np.rot90(ramp, turn))
        assert np.array_equal(np.rot90(np.rot90(ramp, turn), first), ramp)


def test_canonical_turn_takes_a_second_choice_when_two_sides_are_nearly_as_bright():
    diagonal = np.add.outer(np.linspace(255, 0, 32), np.linspace(250, 0, 32))  # bright top-left corner
    assert sorted(canonical_turns(diagonal)) == [0, 3]
    assert canonical_turns(np.full((32, 32), 128.0)) == (0, 0)  # nothing to go by: upright only


def test_an_exact_copy_needs_equal_pixels_and_the_score_is_the_similarity_the_item_page_shows():
    equal, tinted = _pair(0, 1, 0.97, 2, pixel_equal=True), _pair(0, 1, 0.91, 2, pixel_equal=False)
    assert pair_tier(equal, Thresholds()) == "exact"
    assert pair_tier(tinted, Thresholds()) == "near"  # same hash, other colours: a near-duplicate
    assert pair_tier(_pair(0, 1, 0.97, 2), Thresholds()) == "near"  # not looked at: never called exact
    assert describe_pairs([tinted]).score == 0.91 and describe_pairs([equal]).score == 0.97


def test_pixels_decide_exact_copies_of_real_photos():
    from PIL import ImageEnhance, ImageOps

    from zeuge_lite.demo import PHOTOS_DIR
    from zeuge_lite.similarity import exact
    original = Image.open(PHOTOS_DIR / "kodak-kodim05.png").convert("RGB")

    def thumb(image):
        small = image.copy()
        small.thumbnail((320, 320))
        buffer = io.BytesIO()
        small.save(buffer, "JPEG", quality=82)
        return exact.signature_of_file(buffer.getvalue())

    base = thumb(original)
    half = original.resize((original.width // 2, original.height // 2))
    assert exact.same_pixels(base, thumb(half))  # resized and re-encoded: the same picture
    for changed in (ImageOps.grayscale(original).convert("RGB"), ImageEnhance.Contrast(original).enhance(1.15),
                    ImageOps.colorize(ImageOps.grayscale(original), "#402000", "#ffeecc")):
        assert not exact.same_pixels(base, thumb(changed))
    pairs = exact.confirm_exact([_pair(0, 1, 0.99, 1), _pair(0, 2, 0.9, 3), _pair(1, 2, 0.9, 20)],
                                {0: base, 1: thumb(half), 2: thumb(ImageOps.grayscale(original))}.get, 4)
    assert [p.pixel_equal for p in pairs] == [True, False, None]


def test_a_percent_reads_100_only_for_an_identical_picture_and_a_threshold_reads_itself():
    from zeuge_lite.report import percent
    assert (percent(1.0), percent(0.99996), percent(0.74), percent(0.7399), percent(0.0)) == (100, 99, 74, 73, 0)


def test_a_page_whose_lines_run_one_way_is_turned_so_that_they_run_across():
    from tests.test_verify import letter, photo
    from zeuge_lite.similarity.orientation import text_lines_turn as lines_turn

    def text_lines_turn(image):
        return lines_turn(np.asarray(image.convert("L")))

    page = letter(3).resize((247, 320))
    assert text_lines_turn(page) == 0
    assert text_lines_turn(page.transpose(Image.Transpose.ROTATE_90)) == 1
    assert text_lines_turn(page.transpose(Image.Transpose.ROTATE_270)) == 1
    assert text_lines_turn(Image.new("RGB", (247, 320), "white")) is None  # nothing to go by
    for size in ((1, 1), (1, 50), (50, 1)):  # a line of pixels, without numpy's warnings
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert text_lines_turn(Image.new("RGB", size, "white")) is None
    assert text_lines_turn(photo(2).resize((320, 240))) is None


def test_a_page_with_clear_lines_is_embedded_once_and_its_turned_rescan_stays_near():
    """Pages look alike to the model, so their turned re-scans are found by being embedded with their lines
    across (upright or upside down) instead of in two canonical turns: one model pass instead of two."""
    from tests.test_verify import letter, rescan
    from zeuge_lite.similarity.embedding import get_embedder
    from zeuge_lite.similarity.features import extract_features
    from zeuge_lite.similarity.grouping import CANDIDATE_COSINE_FLOOR

    def features(image):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        return extract_features(buffer.getvalue(), get_embedder("efficientnet-lite0"), 10_000_000)

    page = letter(3)
    upright = features(page)
    turned = features(rescan(page.transpose(Image.Transpose.ROTATE_270), angle=-1.0))
    assert upright.page_hint and turned.page_hint
    for one in (upright, turned):
        assert (one.vectors == one.vectors[0]).all()  # one view, stored in all three places
    best = max(float(a @ b) for a in turned.vectors for b in upright.vectors)
    assert best >= CANDIDATE_COSINE_FLOOR + 0.2, best
