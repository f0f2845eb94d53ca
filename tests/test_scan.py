"""`flask zeuge scan`: the same engine on a folder, duplicates.json in the public shape, an HTML report."""
import json

from PIL import Image, ImageOps

from zeuge_lite.demo import PHOTOS_DIR


def _make_folder(root):
    sub = root / "box1"
    sub.mkdir(parents=True)
    for name in ("kodak-kodim05.png", "kodak-kodim13.png", "kodak-kodim23.png", "skimage-coffee.png"):
        (root / name).write_bytes((PHOTOS_DIR / name).read_bytes())
    photo = Image.open(PHOTOS_DIR / "kodak-kodim05.png").convert("RGB")
    photo.resize((384, 256)).save(sub / "kodim05-small.jpg", quality=70)
    ImageOps.grayscale(photo.rotate(90, expand=True)).save(sub / "kodim05-turned-gray.jpg", quality=85)
    (root / "exact-copy.png").write_bytes((PHOTOS_DIR / "kodak-kodim23.png").read_bytes())
    (sub / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (root / "notes.txt").write_text("not an image, not scanned")


def test_scan_writes_the_public_json_and_html(app, runner, tmp_path):
    _make_folder(tmp_path / "in")
    result = runner.invoke(args=["zeuge", "scan", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                                 "--workers", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "duplicates.json").read_text())
    assert set(report) >= {"model", "threshold", "items", "errors", "groups"}
    assert report["model"] == "efficientnet-lite0" and report["items"] == 7
    assert report["errors"] == [{"path": "box1/broken.jpg", "error": report["errors"][0]["error"]}]
    groups = {frozenset(i["path"] for i in g["items"]): g for g in report["groups"]}
    assert set(groups) == {frozenset({"kodak-kodim05.png", "box1/kodim05-small.jpg", "box1/kodim05-turned-gray.jpg"}),
                           frozenset({"kodak-kodim23.png", "exact-copy.png"})}
    exact = groups[frozenset({"kodak-kodim23.png", "exact-copy.png"})]
    assert exact["kind"] == "exact" and exact["score"] == 1.0
    assert all(0 < g["score"] <= 1 and g["kind"] in ("exact", "near", "similar") for g in report["groups"])
    assert {"width": 768, "height": 512} == {k: exact["items"][0][k] for k in ("width", "height")}
    assert not (tmp_path / "test.sqlite3").exists()  # a scan leaves no state outside --out
    html = (tmp_path / "out" / "duplicates.html").read_text()
    assert html.count("data:image/jpeg;base64,") == 5 and "box1/broken.jpg" in html


def test_scan_with_a_missing_model_explains_how_to_fetch_it(runner, tmp_path):
    _make_folder(tmp_path / "in")
    result = runner.invoke(args=["zeuge", "scan", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                                 "--model", "clip-vit-b32"])
    assert result.exit_code != 0 and "zeuge model fetch clip-vit-b32" in result.output
    assert not (tmp_path / "out").exists()
