"""In a real browser: register, batch, drag-and-drop upload, drag reorder kept on reload, metadata,
delete after confirmation, the free plan's upgrade prompt."""
import base64
import re

import pytest
from playwright.sync_api import expect

from tests.conftest import image_bytes
from tests.e2e.conftest import drag, screenshot, watch_csp

pytestmark = pytest.mark.e2e

COLORS = {"red.png": (220, 20, 20), "green.png": (20, 180, 20), "blue.png": (20, 20, 220)}


def _drop_files(page, selector, files):
    """Dispatch a real drop event carrying File objects, as a person dragging files from the desktop does."""
    payload = [{"name": n, "b64": base64.b64encode(d).decode(), "type": "image/png"} for n, d in files]
    handle = page.evaluate_handle("""(files) => {
        const dt = new DataTransfer();
        for (const f of files) {
            const bytes = Uint8Array.from(atob(f.b64), c => c.charCodeAt(0));
            dt.items.add(new File([bytes], f.name, {type: f.type}));
        }
        return dt; }""", payload)
    page.dispatch_event(selector, "drop", {"dataTransfer": handle})


def _tile_names(page):
    return page.locator("#item-grid .filename").all_inner_texts()


def test_archivist_flow(live_server, page):
    csp_violations = watch_csp(page)  # uploads with progress and drag-and-drop work under the CSP
    page.goto(live_server + "/register")
    page.fill("input[name=name]", "Erika")
    page.fill("input[name=email]", "erika@example.org")
    page.fill("input[name=password]", "kestrel harbour violin")
    page.click("button.primary")
    expect(page.locator(".flash")).to_contain_text("log in with it")  # the same answer for a taken address
    expect(page.locator("input[name=email]")).to_have_value("erika@example.org")
    page.fill("input[name=password]", "kestrel harbour violin")
    page.click("button.primary")
    expect(page.locator("h1")).to_contain_text("Erika's archive")
    page.fill("input[name=name]", "Box 12")
    page.click("text=Create batch")
    expect(page.locator(".stepper a.active")).to_have_text("1. Upload")

    files = [(name, image_bytes("PNG", size=(120, 90), color=color)) for name, color in COLORS.items()]
    _drop_files(page, "#dropzone", files + [("notes.png", b"not an image at all")])
    expect(page.locator("#upload-list li.result-added")).to_have_count(3)
    expect(page.locator("#upload-list li.result-refused")).to_contain_text("not an image file")
    expect(page.locator("#upload-list li.result-refused progress")).to_have_count(0)  # no bar for what did not land
    screenshot(page, "01-upload")

    page.click("text=See the items")
    expect(page.locator("#item-grid .tile")).to_have_count(3)
    assert _tile_names(page) == ["red.png", "green.png", "blue.png"]
    drag(page, page.locator("#item-grid .tile").nth(2), page.locator("#item-grid .tile").nth(0))
    expect(page.locator("#item-grid .filename").first).to_have_text("blue.png")
    page.reload()
    assert _tile_names(page) == ["blue.png", "red.png", "green.png"]
    page.get_by_role("button", name="Move green.png earlier").click()
    expect(page.locator("#item-grid .filename").nth(1)).to_have_text("green.png")
    page.reload()
    assert _tile_names(page) == ["blue.png", "green.png", "red.png"]
    screenshot(page, "02-items")

    page.click("text=green.png")
    page.fill("input[name=title]", "Harvest festival")
    page.fill("input[name=accession_number]", "ZL-1931-004")
    page.click("text=Save metadata")
    expect(page.locator(".flash")).to_contain_text("Metadata saved")
    expect(page.locator("input[name=title]")).to_have_value("Harvest festival")
    screenshot(page, "03-item")

    page.click("text=Delete item…")
    expect(page.locator("main")).to_contain_text("restorable from the archive's trash for 30 days")
    screenshot(page, "04-delete-confirm")
    page.click("#confirm-delete")
    expect(page.locator(".flash")).to_contain_text("“green.png” moved to the trash, restorable for 30 days.")
    assert _tile_names(page) == ["blue.png", "red.png"]

    page.click(".crumbs a")  # to the archive, then its trash
    page.get_by_role("link", name="Trash").click()
    expect(page.locator("table.trash")).to_contain_text("Box 12, position 2")
    screenshot(page, "04b-trash")
    page.get_by_label("Choose green.png").check()
    page.get_by_role("button", name="Restore chosen").click()
    expect(page.locator(".flash")).to_contain_text("Restored 1 item to their batches: “green.png”.")
    page.click("text=Back to the archive")
    page.get_by_role("link", name="Box 12").click()
    assert _tile_names(page) == ["blue.png", "green.png", "red.png"]  # back where it was
    page.get_by_role("link", name="Delete green.png").click()
    page.click("#confirm-delete")
    assert _tile_names(page) == ["blue.png", "red.png"]

    page.click("text=4. Metadata")
    page.locator("input[aria-label='title of red.png']").fill("Red barn")
    page.locator("input[aria-label='title of red.png']").press("Tab")
    expect(page.locator("td.saved").nth(1)).to_contain_text("Saved")
    page.reload()
    expect(page.locator("input[aria-label='title of red.png']")).to_have_value("Red barn")
    screenshot(page, "05-metadata")

    page.click("text=3. Similarity")
    expect(page.locator("#upgrade-prompt")).to_contain_text("Pro plan")
    screenshot(page, "06-similarity-free")
    page.click("#upgrade-prompt >> text=See plans")
    expect(page).to_have_url(re.compile(r"/plans$"))
    screenshot(page, "07-plans")
    assert csp_violations == []


def test_an_upload_after_logging_out_in_another_tab_says_so_and_sends_no_more(live_server, page):
    page.goto(live_server + "/register")
    page.fill("input[name=name]", "Ines")
    page.fill("input[name=email]", "ines@example.org")
    page.fill("input[name=password]", "kestrel harbour violin")
    page.click("button.primary")
    page.fill("input[name=password]", "kestrel harbour violin")
    page.click("button.primary")
    page.fill("input[name=name]", "Box 3")
    page.click("text=Create batch")
    expect(page.locator("#dropzone.enhanced")).to_be_visible()
    other_tab = page.context.new_page()
    other_tab.goto(live_server + "/")
    other_tab.get_by_role("button", name="Log out", exact=True).click()
    expect(other_tab.locator(".flash")).to_contain_text("You are logged out")

    files = [(name, image_bytes("PNG", size=(120, 90), color=color)) for name, color in COLORS.items()]
    _drop_files(page, "#dropzone", files)
    rows = page.locator("#upload-list li.result-refused")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("You are logged out")
    expect(rows.nth(1)).to_contain_text("not sent: You are logged out")
    expect(rows.nth(2)).to_contain_text("not sent")
    expect(page.locator("#upload-list li.result-added")).to_have_count(0)

    other_tab.fill("input[name=email]", "ines@example.org")  # the login page the logout left it on
    other_tab.fill("input[name=password]", "kestrel harbour violin")
    other_tab.click("button.primary")
    page.reload()
    expect(page.locator("#dropzone.enhanced")).to_be_visible()
    _drop_files(page, "#dropzone", files[:1])
    expect(page.locator("#upload-list li.result-added")).to_have_count(1)
    page.click("text=4. Metadata")
    other_tab.goto(live_server + "/")
    other_tab.get_by_role("button", name="Log out", exact=True).click()
    cell = page.locator("input[aria-label='title of red.png']")
    cell.fill("Red barn")
    cell.press("Tab")
    expect(page.locator("#page-error")).to_contain_text("You are logged out")  # said on the page, not swapped in
    expect(cell).to_have_value("Red barn")  # what was typed stays, to save after logging in again
    expect(page.locator("input[name=password]")).to_have_count(0)


def test_going_back_to_the_metadata_table_shows_and_keeps_what_the_server_holds(live_server, page):
    """Browsers put typed values back on Back or reload; app.js saves cells whose value differs from the page's
    (edited before htmx had loaded), so a restored value would be saved over what the server holds now."""
    page.goto(live_server + "/register")
    page.fill("input[name=name]", "Jon")
    page.fill("input[name=email]", "jon@example.org")
    page.fill("input[name=password]", "kestrel harbour violin")
    page.click("button.primary")
    page.fill("input[name=password]", "kestrel harbour violin")
    page.click("button.primary")
    page.fill("input[name=name]", "Box 4")
    page.click("text=Create batch")
    expect(page.locator("#dropzone.enhanced")).to_be_visible()  # the new page's script listens for the drop
    _drop_files(page, "#dropzone", [("red.png", image_bytes("PNG", size=(120, 90), color=COLORS["red.png"]))])
    expect(page.locator("#upload-list li.result-added")).to_have_count(1)
    page.click("text=4. Metadata")
    table_url = page.url
    cell = page.locator("input[aria-label='title of red.png']")
    cell.fill("Red barn")
    cell.press("Tab")
    expect(page.locator("td.saved").first).to_contain_text("Saved")
    cell.fill("typed and left without saving")
    page.goto(live_server + "/")
    page.go_back()
    expect(page.locator("input[aria-label='title of red.png']")).to_have_value("Red barn")
    fresh = page.context.new_page()
    fresh.goto(table_url)
    expect(fresh.locator("input[aria-label='title of red.png']")).to_have_value("Red barn")
