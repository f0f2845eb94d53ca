"""Keep-best: resolution first, lossless over lossy, bit depth, sharpness; never just the largest file."""
from PIL import Image, ImageFilter

from zeuge_lite.demo import PHOTOS_DIR
from zeuge_lite.similarity.keeper import Candidate, sharpness, suggest_keeper


def _c(key, w=1000, h=800, fmt="JPEG", depth=8, sharp=100.0):
    return Candidate(key, w, h, fmt, depth, sharp)


def test_resolution_comes_first():
    key, reasons = suggest_keeper([_c(1, 800, 600, "TIFF"), _c(2, 2400, 1800, "JPEG")])
    assert key == 2 and "highest resolution" in reasons[0]


def test_lossless_wins_at_the_same_resolution():
    key, reasons = suggest_keeper([_c(1, sharp=500.0), _c(2, 1010, 800, "PNG", sharp=90.0)])
    assert key == 2 and any("lossless PNG" in r for r in reasons)


def test_bit_depth_then_sharpness_decide_ties():
    assert suggest_keeper([_c(1, fmt="TIFF"), _c(2, fmt="TIFF", depth=16)])[0] == 2
    key, reasons = suggest_keeper([_c(1, sharp=50.0), _c(2, sharp=80.0), _c(3, sharp=10.0)])
    assert key == 2 and "sharper than the others" in reasons


def test_sharpness_measures_blur_at_any_size():
    photo = Image.open(PHOTOS_DIR / "kodak-kodim05.png").convert("RGB")
    blurred = photo.filter(ImageFilter.GaussianBlur(2))
    assert sharpness(photo) > 2 * sharpness(blurred)
    assert abs(sharpness(photo) - sharpness(photo.resize((1536, 1024)))) < 0.5 * sharpness(photo)
