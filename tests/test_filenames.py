"""The file-name sanitiser: short enough for any file system, nothing invisible or direction-changing in it."""
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from zeuge_lite.filenames import BIDI_CONTROLS, clean_filename


def test_examples():
    assert clean_filename("  scan 01.tif ") == "scan 01.tif"
    assert clean_filename("a\x00b\tc\r\n.jpg") == "abc.jpg"
    assert clean_filename("\u202egpj.exe") == "gpj.exe"
    assert clean_filename("") == clean_filename(None) == clean_filename("\x00\u200e") == "unnamed"
    assert clean_filename("é" * 300 + ".jpeg") == "é" * 125 + ".jpeg"  # 2 bytes each: 250 + 5 bytes
    assert len(clean_filename("x" * 300 + "." + "y" * 40).encode()) == 255  # an "extension" that long is not one
    assert clean_filename("🙂" * 100 + ".png", max_bytes=20) == "🙂" * 4 + ".png"


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(name=st.text(max_size=400), extension=st.sampled_from(["", ".jpg", ".tiff", ".JPEG", ".tar.gz"]))
def test_any_name_comes_out_short_visible_and_stable(name, extension):
    cleaned = clean_filename(name + extension)
    assert 0 < len(cleaned.encode("utf-8")) <= 255
    assert not any(c in BIDI_CONTROLS or unicodedata.category(c) in ("Cc", "Cs") for c in cleaned)
    assert clean_filename(cleaned) == cleaned
    if extension and clean_filename(name) != "unnamed":
        assert cleaned.endswith(extension)
