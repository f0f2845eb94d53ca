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


def test_the_report_streams_in_chunks_the_text_it_writes_whole():
    from zeuge_lite import report
    from zeuge_lite.similarity.grouping import Thresholds
    groups = [report.ReportGroup("near", 0.9 - n / 100, "visual", [
        report.ReportItem(f"=photo-{n}-{m}.jpg", 640, 480, 0.1, 1 + m % 2, b"\xff\xd8jpeg", item_id=n * 10 + m,
                          position=n * 10 + m, keeper=m == 0) for m in range(3)]) for n in range(400)]
    whole = report.Report("A batch", "model", Thresholds(), 2000, groups, [{"path": "bad.png", "error": "truncated"}],
                          [{"path": "b.txt", "reason": "not an image"}], ["blank.png"])
    made = []
    streamed = report.StreamedGroups(lambda: (len(groups), 1200), lambda: made.append(1) or iter(groups))
    lazy = report.Report(whole.title, whole.model, whole.thresholds, whole.items, streamed, whole.errors,
                         whole.skipped, whole.plain, whole.made_at)
    for dumps in (json.dumps, lambda o: json.dumps(o, sort_keys=True, separators=(",", ":"))):
        chunks = list(report.json_chunks(lazy, dumps))
        assert "".join(chunks) == dumps(report.to_json(whole)) and len(chunks) > 3
    assert "".join(report.csv_chunks(lazy)) == report.to_csv(whole)
    made.clear()
    chunks = report.html_chunks(lazy)
    first = next(chunks)
    assert first.startswith("<!doctype html>") and made == []  # the page's head goes out before any group is made
    rest = list(chunks)
    assert first + "".join(rest) == report.to_html(whole) and len(rest) > 3 and made == [1]


def test_a_name_that_is_not_utf8_is_reported_not_fatal(app, runner, tmp_path):
    """Folders copied from old media hold names in Latin-1 and such: the scan used to fail writing its report
    (a lone surrogate in the name) after analysing everything, and left an empty duplicates.html."""
    import os
    folder = tmp_path / "in"
    folder.mkdir()
    photo = (PHOTOS_DIR / "kodak-kodim23.png").read_bytes()
    (folder / "kodim23.png").write_bytes(photo)
    with open(os.path.join(os.fsencode(folder), b"Kopie caf\xe9.png"), "wb") as copy:
        copy.write(photo)
    with open(os.path.join(os.fsencode(folder), b"Notiz caf\xe9.txt"), "wb") as note:
        note.write(b"not an image")
    result = runner.invoke(args=["zeuge", "scan", str(folder), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "duplicates.json").read_text(encoding="utf-8"))
    assert [sorted(i["path"] for i in g["items"]) for g in report["groups"]] == [["Kopie caf\\xe9.png", "kodim23.png"]]
    assert any(s["path"] == "Notiz caf\\xe9.txt" for s in report["skipped"])
    assert "Kopie caf\\xe9.png" in (tmp_path / "out" / "duplicates.html").read_text(encoding="utf-8")


def test_a_broken_link_is_listed_as_skipped(app, runner, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "kodim23.png").write_bytes((PHOTOS_DIR / "kodak-kodim23.png").read_bytes())
    (folder / "moved.jpg").symlink_to(tmp_path / "elsewhere" / "moved.jpg")
    result = runner.invoke(args=["zeuge", "scan", str(folder), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "duplicates.json").read_text())
    assert {"path": "moved.jpg", "reason": "a link to a file that is not there"} in report["skipped"]
