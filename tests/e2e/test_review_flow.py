"""The archivist's review screen in a real browser, with a real huey_consumer process and the shipped model:
run, expand, keep-best reasons, delete after confirmation, place together (seen in the Items grid), not
duplicates kept across a re-run, metadata compare, side by side, similar items, phone width; the free archive's
prompt; and no Content-Security-Policy violation anywhere on the way."""
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import choose_files, screenshot, watch_csp
from tests.e2e.test_similarity_flow import _open_similarity_tab

pytestmark = pytest.mark.e2e


def _card(page, *names):
    card = page.locator(".group-card")
    for name in names:
        card = card.filter(has_text=name)
    return card.first


def _tiles(page):
    return page.locator("#item-grid .filename").all_inner_texts()


def _outside_copy(fmt="PNG"):
    """A cropped, re-encoded copy of a demo photo, as it might arrive from outside."""
    import io
    from PIL import Image
    from zeuge_lite.demo import PHOTOS_DIR
    buffer = io.BytesIO()
    Image.open(PHOTOS_DIR / "kodak-kodim23.png").convert("RGB").crop((30, 20, 740, 500)).save(buffer, fmt)
    return buffer.getvalue()


def _run_and_wait(page):
    expect(page.locator("#run-analysis")).to_be_visible()
    page.wait_for_load_state("load")  # htmx is deferred: a key or click before it has run posts the form instead
    page.click("#run-analysis")
    expect(page.locator("#analysis")).to_contain_text("Analysed", timeout=120_000)
    expect(page.locator("#groups-status")).to_contain_text("groups found")


def test_review_flow(demo_with_worker, page):
    url = demo_with_worker
    csp_violations = watch_csp(page)
    _open_similarity_tab(page, url)
    _run_and_wait(page)
    screenshot(page, "20-review-groups")
    page.locator("input[name=threshold]").evaluate(  # moving the slider shows its value before any reload
        "el => { el.value = 80; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    expect(page.locator("#threshold-out")).to_have_text("80%")

    card = _card(page, "kodim01-rescan-small.jpg")
    card.get_by_role("button", name="Expand").click()
    expect(page.locator(".group-card.expanded .keeper")).to_contain_text("kodak-kodim01.png")
    expect(page.locator(".group-card.expanded .keeper")).to_contain_text("highest resolution")
    assert "open=" in page.url
    page.reload()  # the URL keeps the open card
    expect(page.locator(".group-card.expanded .keeper")).to_contain_text("highest resolution")
    screenshot(page, "21-review-expanded")

    expanded = page.locator(".group-card.expanded")
    expanded.get_by_role("button", name="Keep suggested, delete the rest…").click()
    dialog = expanded.get_by_role("alertdialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    expanded.get_by_role("button", name="Keep suggested, delete the rest…").click()
    expect(dialog).to_contain_text("restorable from the archive's trash for 30 days")
    expect(dialog).to_contain_text("kodim01-rescan-small.jpg")
    screenshot(page, "22-review-delete-confirm")
    dialog.get_by_role("button", name="Move to trash").click()
    expect(page.locator(".group-card.resolved")).to_contain_text("Group resolved")
    expect(page.locator(".group-card.resolved")).to_contain_text("moved to the trash")

    _card(page, "kodim05-cropped.jpg").get_by_role("button", name="Expand").click()
    kodim05 = page.locator(".group-card.expanded", has_text="kodim05-cropped.jpg")
    kodim05.get_by_role("button", name="Compare metadata").click()
    expect(kodim05.locator("table.compare")).to_contain_text("width")
    kodim05 = page.locator("#" + kodim05.get_attribute("id"))  # the same card while its detail is hidden
    kodim05.get_by_role("button", name="Side by side").click()
    panes = kodim05.locator(".side-by-side .sbs-pane")
    expect(panes).to_have_count(2)
    expect(kodim05.locator(".side-by-side figcaption").first).to_contain_text("Suggested keeper")
    kodim05.get_by_role("button", name="2×").click()
    expect(kodim05.get_by_role("button", name="2×")).to_have_attribute("aria-pressed", "true")
    expect(kodim05.get_by_role("button", name="Fit")).to_have_attribute("aria-pressed", "false")
    panes.first.evaluate("pane => { pane.scrollTop = 120; pane.scrollLeft = 80; }")  # the other pane follows
    page.wait_for_function("() => [...document.querySelectorAll('.sbs-pane')].every("
                           "p => p.scrollTop === 120 && p.scrollLeft === 80)")
    screenshot(page, "23-side-by-side")
    kodim05.get_by_role("button", name="Close side by side").click()
    expect(panes).to_have_count(0)
    expect(kodim05.get_by_role("button", name="Side by side")).to_be_focused()
    kodim05.get_by_role("button", name="Collapse / expand").click()
    expect(kodim05.locator(".detail")).to_be_hidden()
    kodim05.get_by_role("button", name="Collapse / expand").click()
    expect(kodim05.locator(".detail")).to_be_visible()
    kodim05.get_by_role("button", name="Place together").click()
    expect(page.locator(".group-card.expanded", has_text="kodim05-cropped.jpg")).to_contain_text(
        "Placed together at positions")
    screenshot(page, "23-review-placed")
    page.click("text=2. Items")
    tiles = _tiles(page)
    assert "kodim01-rescan-small.jpg" not in tiles
    assert tiles.index("kodim05-cropped.jpg") == tiles.index("kodak-kodim05.png") + 1
    screenshot(page, "24-items-after-review")

    page.click(".crumbs a")  # restore the re-scan from the trash: the next run groups it again
    page.get_by_role("link", name="Trash").click()
    page.get_by_label("Choose kodim01-rescan-small.jpg").check()
    page.get_by_role("button", name="Restore chosen").click()
    expect(page.locator(".flash")).to_contain_text("“kodim01-rescan-small.jpg”")
    page.click("text=Back to the archive")
    page.get_by_role("link", name="Kodak scans").click()
    assert "kodim01-rescan-small.jpg" in _tiles(page)
    page.click("text=3. Similarity")
    _run_and_wait(page)
    expect(_card(page, "kodim01-rescan-small.jpg", "kodak-kodim01.png")).to_be_visible()

    page.click("text=3. Similarity")
    expect(page.locator("#groups-status")).to_contain_text("groups found")
    _card(page, "kodim13-turned.jpg").get_by_role("button", name="Expand").click()
    page.locator(".group-card.expanded", has_text="kodim13-turned.jpg").get_by_role(
        "button", name="Not duplicates", exact=True).click()
    expect(page.locator(".group-card.dismissed")).to_contain_text("remembered")
    _run_and_wait(page)
    expect(page.locator(".group-card", has_text="kodim13-turned.jpg")).to_have_count(0)

    page.click("text=2. Items")
    page.click("text=kodak-kodim23.png")
    expect(page.locator("#similar-items")).to_contain_text("kodim23-reencoded.jpg")
    screenshot(page, "25-item-similar")

    page.click("text=← Kodak scans")
    page.click("text=3. Similarity")
    expect(page.locator("#groups-status")).to_contain_text("groups found")
    page.get_by_role("link", name="Find a photo").focus()
    page.keyboard.press("j")  # outside the list of groups a letter key does nothing (WCAG 2.1.4)
    expect(page.get_by_role("link", name="Find a photo")).to_be_focused()
    page.locator(".group-card").first.focus()
    page.keyboard.press("j")
    expect(page.locator(".group-card").nth(1)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".group-card.expanded .keeper")).to_be_visible()

    page.click("text=Find a photo")
    page.set_input_files("input[name=photo]", files=[{"name": "outside.png", "mimeType": "image/png",
                                                      "buffer": _outside_copy()}])
    page.click("button:has-text('Find')")
    expect(page.locator("main")).to_contain_text("kodak-kodim23.png")
    screenshot(page, "27-find-a-photo")

    page.click("text=1. Upload")
    choose_files(page, [{"name": "box2-parrots.jpg", "mimeType": "image/jpeg", "buffer": _outside_copy("JPEG")}])
    expect(page.locator("#precheck")).to_contain_text("1 of 1 new photo may already be in the archive",
                                                      timeout=60_000)
    expect(page.locator("#precheck")).to_contain_text("kodak-kodim23.png")
    screenshot(page, "28-pre-accession-check")
    buttons = page.locator("#precheck").get_by_role("button", name="not a duplicate")
    for remaining in range(buttons.count(), 0, -1):  # it may match the original and its re-encoded copy
        buttons.first.click()
        expect(buttons).to_have_count(remaining - 1)
    expect(page.locator("#precheck")).to_contain_text("0 of 1 new photo")

    page.set_viewport_size({"width": 390, "height": 844})
    page.click("text=3. Similarity")
    expect(page.locator("#groups-status")).to_contain_text("groups found")
    screenshot(page, "26-review-phone")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(url + "/")
    page.click("text=Demo Archive (Free)")
    page.click("text=Free plan sample")
    page.click("text=3. Similarity")
    expect(page.locator("#upgrade-prompt")).to_contain_text("Pro plan")
    assert csp_violations == []
