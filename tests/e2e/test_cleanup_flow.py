"""Cleaning up a batch in a real browser, with a real huey_consumer process and the shipped model: the error
fragment of a 422, resolve all exact copies after one confirmation (undone from the trash), copy to keeper with
its overwrite prompt and its undo from the audit log, find-a-photo verdicts, and a similar series with nothing
ticked for deletion."""
import io

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import choose_files, screenshot, watch_csp
from tests.e2e.test_review_flow import _card, _outside_copy, _run_and_wait, _tiles
from tests.e2e.test_similarity_flow import _open_similarity_tab
from zeuge_lite.demo import PHOTOS_DIR

pytestmark = pytest.mark.e2e


def _jpeg(image):
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _overlapping_shots():
    """Two shots of one scene that overlap by 40 %: a series (alike, verified), not copies of each other."""
    with Image.open(PHOTOS_DIR / "kodak-kodim08.png") as image:
        width, height = image.size
        left, right = image.crop((0, 0, int(width * 0.7), height)), image.crop((int(width * 0.3), 0, width, height))
        return [{"name": name, "mimeType": "image/jpeg", "buffer": _jpeg(shot)}
                for name, shot in (("street-1.jpg", left), ("street-2.jpg", right))]


def _unrelated_photo():
    """A photo of nothing the demo holds (a smooth two-colour field with a disc)."""
    image = Image.new("RGB", (640, 480), (20, 120, 60))
    for x in range(200, 440):
        for y in range(120, 360):
            if (x - 320) ** 2 + (y - 240) ** 2 < 110 ** 2:
                image.putpixel((x, y), (230, 210, 40))
    return {"name": "unrelated.jpg", "mimeType": "image/jpeg", "buffer": _jpeg(image)}


def _save_title(page, filename, title):
    page.click("text=2. Items")
    page.click(f"text={filename}")
    page.get_by_label("Title").fill(title)
    page.get_by_role("button", name="Save metadata").click()
    expect(page.get_by_label("Title")).to_have_value(title)
    page.click("text=← Kodak scans")


def test_cleanup_flow(demo_with_worker, page):
    url = demo_with_worker
    csp_violations = watch_csp(page)
    _open_similarity_tab(page, url)
    _save_title(page, "kodak-kodim05.png", "Motocross, start")
    _save_title(page, "kodim05-cropped.jpg", "Race at Mettet, 1982")
    page.click("text=3. Similarity")
    _run_and_wait(page)

    # A 422 reads as a sentence in the card, never as the framework's error page inside the card.
    _card(page, "kodim05-cropped.jpg").get_by_role("button", name="Expand").click()
    expanded = page.locator(".group-card.expanded", has_text="kodim05-cropped.jpg")
    expect(expanded.locator(".keeper")).to_contain_text("kodak-kodim05.png")
    for box in expanded.locator("input[name=item]").all():
        box.uncheck()
    expanded.get_by_role("button", name="Delete selected…").click()
    expect(expanded.locator(".error-fragment")).to_contain_text("Choose the copies to delete")
    expect(page.locator("body")).not_to_contain_text("Unprocessable Entity")

    # Copy to keeper asks before it overwrites, and the log undoes it.
    expanded.get_by_role("button", name="Compare metadata").click()
    expanded.locator("table.compare tr", has_text="title").get_by_role("button", name="copy to keeper").click()
    expect(page.locator("body")).to_contain_text("already “Motocross, start”")
    page.get_by_role("button", name="Replace it").click()
    expect(expanded.locator("table.compare tr", has_text="title")).not_to_contain_text("Motocross, start")
    page.goto(url + "/")
    page.get_by_role("link", name="Demo Archive (Pro)").click()
    page.get_by_role("link", name="Audit log").click()
    entry = page.locator("tr", has_text="Motocross, start").first
    expect(entry).to_contain_text("Race at Mettet, 1982")
    screenshot(page, "30-audit-copy")
    entry.get_by_role("button", name="Undo").click()
    expect(page.locator(".flash")).to_contain_text("Undone")
    page.goto(url + "/")
    page.get_by_role("link", name="Demo Archive (Pro)").click()
    page.get_by_role("link", name="Kodak scans").click()
    page.locator("#item-grid").get_by_text("kodak-kodim05.png").click()
    expect(page.get_by_label("Title")).to_have_value("Motocross, start")
    page.click("text=← Kodak scans")

    # Resolve all exact copies: one confirmation with the counts, then only the keepers stay.
    page.click("text=3. Similarity")
    expect(page.locator(".overview")).to_contain_text("Exact copies: 2 groups")
    page.get_by_role("link", name="Resolve all exact copies…").click()
    expect(page.locator("main")).to_contain_text("2 groups: each keeps its suggested keeper, and 2 photos")
    expect(page.locator("main")).to_contain_text("restorable for 30 days")
    screenshot(page, "31-resolve-all-confirm")
    page.get_by_role("button", name="Resolve 2 groups").click()
    expect(page.locator(".flash")).to_contain_text("Resolved 2 exact copy groups")
    expect(page.locator("#groups-status")).to_contain_text("groups found")
    expect(page.locator(".overview")).to_contain_text("Exact copies: 0 groups")
    page.click("text=2. Items")
    tiles = _tiles(page)
    assert "kodim01-rescan-small.jpg" not in tiles and "kodim23-reencoded.jpg" not in tiles
    assert "kodak-kodim01.png" in tiles and "kodak-kodim23.png" in tiles

    # Find a photo: a near copy is "already in", an unrelated photo "not in", with the searched photo shown.
    page.click("text=3. Similarity")
    page.get_by_role("link", name="Find a photo").click()
    page.set_input_files("input[name=photo]", files=[{"name": "outside.png", "mimeType": "image/png",
                                                      "buffer": _outside_copy()}])
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#verdict")).to_contain_text("Already in this batch")
    expect(page.locator("#verdict")).to_contain_text("kodak-kodim23.png")
    expect(page.get_by_alt_text("The photo you searched for")).to_be_visible()
    page.set_input_files("input[name=photo]", files=[_unrelated_photo()])
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#verdict")).to_contain_text("Not in this batch (closest:")
    expect(page.locator("main")).not_to_contain_text("Already in")
    screenshot(page, "32-find-not-in")

    # Two overlapping shots make a series: nothing is ticked, and "Place together" comes first.
    page.goto(url + "/")
    page.get_by_role("link", name="Demo Archive (Pro)").click()
    page.get_by_label("New batch").fill("Street series")
    page.get_by_role("button", name="Create batch").click()
    choose_files(page, _overlapping_shots())
    expect(page.locator("#upload-done")).to_be_visible()
    page.click("text=3. Similarity")
    page.wait_for_load_state("load")  # htmx is deferred: a click before it has run does nothing
    page.click("#run-analysis")
    expect(page.locator("#groups-status")).to_contain_text("1 group found", timeout=120_000)
    series = _card(page, "street-1.jpg", "street-2.jpg")
    expect(series).to_contain_text("similar")
    series.get_by_role("button", name="Expand").click()
    expanded = page.locator(".group-card.expanded", has_text="street-1.jpg")
    expect(expanded.locator(".keeper")).to_be_visible()
    expect(expanded).to_contain_text("nothing is ticked for deletion")
    for box in expanded.locator("input[name=item]").all():
        expect(box).not_to_be_checked()
    buttons = expanded.locator(".actions button").all_inner_texts()
    assert buttons.index("Place together") < buttons.index("Delete selected…"), buttons
    screenshot(page, "33-series")
    assert csp_violations == []
