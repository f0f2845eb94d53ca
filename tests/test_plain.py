"""Blank and plain pages: detected cheaply, never joined by hash or embedding, sharpness 0, listed apart on the
Similarity tab and trashed in one step."""
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from zeuge_lite import queries
from zeuge_lite.demo import PHOTOS_DIR
from zeuge_lite.similarity.keeper import Candidate, sharpness, suggest_keeper
from zeuge_lite.similarity.plain import is_plain
from zeuge_lite.tasks import huey

COLOURS = ((255, 255, 255), (0, 0, 0), (200, 40, 40), (40, 90, 200))


def _paper(size=(600, 800), grain=3, seed=1):
    """An empty page as a scanner sees it: off-white with grain."""
    noise = np.random.default_rng(seed).normal(0, grain, (size[1], size[0], 1))
    return Image.fromarray(np.clip(np.full((size[1], size[0], 3), 246.0) + noise, 0, 255).astype(np.uint8))


def _letter():
    page = _paper()
    draw = ImageDraw.Draw(page)
    for line in range(40, 760, 24):
        draw.rectangle((50, line, 550 - (line * 7) % 120, line + 7), fill=(30, 30, 30))
    return page


@pytest.mark.parametrize("image", [Image.new("RGB", (512, 512), c) for c in COLOURS]
                         + [_paper(), Image.new("L", (100, 100), 128).convert("RGB")])
def test_uniform_images_and_empty_pages_are_plain(image):
    assert is_plain(image)


def test_a_page_with_a_pencil_number_is_still_blank_but_a_letter_or_photo_is_not():
    page = _paper()
    ImageDraw.Draw(page).text((520, 760), "17", fill=(90, 90, 90))
    assert is_plain(page)
    assert not is_plain(_letter())
    assert not is_plain(Image.open(PHOTOS_DIR / "kodak-kodim05.png").convert("RGB"))
    assert not is_plain(Image.open(PHOTOS_DIR / "kodak-kodim23.png").convert("RGB"))


@pytest.mark.parametrize("colour, side", [((0, 0, 0), 512), ((0, 0, 0), 100), ((128, 128, 128), 300),
                                          ((255, 255, 255), 64)])
def test_sharpness_of_a_plain_image_is_zero_whatever_its_brightness_and_size(colour, side):
    assert sharpness(Image.new("RGB", (side, side), colour)) == 0.0


def test_sharpness_of_a_flat_image_no_longer_depends_on_its_border():
    # not plain (a gradient), but flat: Pillow's unfiltered border made this 100-600 before
    ramp = Image.fromarray(np.tile(np.linspace(0, 255, 400), (300, 1)).astype(np.uint8)).convert("RGB")
    assert sharpness(ramp) < 1.0
    assert sharpness(_letter()) > 100


def test_keep_best_does_not_rank_plain_images_by_sharpness():
    a = Candidate(1, 600, 800, "JPEG", 8, 0.0, plain=True)
    b = Candidate(2, 600, 800, "JPEG", 8, 35.0, plain=True)
    _keep, reasons = suggest_keeper([a, b])
    assert not any("sharp" in reason for reason in reasons)
    assert (suggest_keeper([a, b])[0], suggest_keeper([b, a])[0]) == (1, 2)  # a tie: b's 35.0 does not count


def _png(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_scan_lists_plain_pages_apart_and_never_groups_them(runner, tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    for n, colour in enumerate(COLOURS):
        Image.new("RGB", (300, 400), colour).save(root / f"square-{n}.jpg", quality=90)
    _paper(seed=2).save(root / "verso-a.png")
    _paper(seed=3).save(root / "verso-b.png")
    (root / "verso-copy.png").write_bytes((root / "verso-a.png").read_bytes())
    (root / "photo.png").write_bytes((PHOTOS_DIR / "kodak-kodim05.png").read_bytes())
    assert runner.invoke(args=["zeuge", "scan", str(root), "--out", str(tmp_path / "out"),
                               "--workers", "1"]).exit_code == 0
    report = json.loads((tmp_path / "out" / "duplicates.json").read_text())
    assert sorted(report["plain"]) == sorted([f"square-{n}.jpg" for n in range(4)]
                                             + ["verso-a.png", "verso-b.png", "verso-copy.png"])
    groups = [sorted(i["path"] for i in g["items"]) for g in report["groups"]]
    assert groups == [["verso-a.png", "verso-copy.png"]]  # the identical file only
    assert "7 blank or plain pages" in (tmp_path / "out" / "duplicates.html").read_text()


@pytest.fixture
def plain_batch(world, client, conn):
    huey.immediate = True
    archive, batch = world.own_batch("plain@x.org")
    squares = [(f"square-{n}.png", _png(Image.new("RGB", (300, 400), c))) for n, c in enumerate(COLOURS)]
    world.upload(batch, *squares, ("photo.png", (PHOTOS_DIR / "kodak-kodim05.png").read_bytes()),
                 ("photo-small.png", _png(Image.open(PHOTOS_DIR / "kodak-kodim05.png").resize((384, 256)))))
    client.post(f"/batches/{batch}/similarity/run")
    yield batch, archive
    huey.immediate = False


def test_web_plain_pages_are_flagged_not_grouped_and_trashed_in_one_step(client, conn, plain_batch):
    batch, archive = plain_batch
    items = {i["filename"]: i for i in queries.items_of_batch(conn, batch)}
    assert [n for n, i in items.items() if i["plain"]] == [f"square-{n}.png" for n in range(4)]
    assert all(items[f"square-{n}.png"]["sharpness"] == 0.0 for n in range(4))
    listing = client.get(f"/batches/{batch}/similarity/groups").get_data(as_text=True)
    assert "1 group found" in listing and "square-" not in listing
    tab = client.get(f"/batches/{batch}/similarity").get_data(as_text=True)
    assert f"/batches/{batch}/similarity/plain" in tab
    plain = client.get(f"/batches/{batch}/similarity/plain").get_data(as_text=True)
    assert "4 blank or plain pages" in plain and plain.count('type="checkbox"') == 4
    ticked = [items[f"square-{n}.png"]["id"] for n in range(3)]
    done = client.post(f"/batches/{batch}/similarity/plain/trash", data={"item": ticked}).get_data(as_text=True)
    assert "3 items moved to the trash" in done and "1 blank or plain page" in done
    assert sorted(i["filename"] for i in queries.items_of_batch(conn, batch)) == \
        ["photo-small.png", "photo.png", "square-3.png"]
    assert conn.execute("SELECT count(*) FROM trash WHERE archive_id = ?", (archive,)).fetchone()[0] == 3
    nothing = client.post(f"/batches/{batch}/similarity/plain/trash", data={}).get_data(as_text=True)
    assert "Tick at least one page" in nothing
