"""In a real browser: a batch longer than one page of the Items grid. Drag within a page, drag a tile onto the
next page's edge, type a position; the order holds on reload."""
import pytest
from playwright.sync_api import expect

from tests.conftest import image_bytes
from tests.e2e.conftest import choose_files, drag, serve, server_env, stop_process, watch_csp

pytestmark = pytest.mark.e2e
NAMES = [f"p{n}.png" for n in range(1, 6)]


@pytest.fixture
def paged_server(tmp_path):
    """`flask run` with three tiles per page of the grid."""
    process, url = serve(tmp_path, server_env(tmp_path, ZEUGE_GRID_PAGE_SIZE="3"))
    try:
        yield url
    finally:
        stop_process(process)


def _tile_names(page):
    return page.locator("#item-grid .filename").all_inner_texts()


def _register_and_upload(page, url):
    page.goto(url + "/register")
    page.fill("input[name=name]", "Paula")
    page.fill("input[name=email]", "paula@example.org")
    page.fill("input[name=password]", "kestrel harbour violin")
    page.click("button.primary")
    page.fill("input[name=password]", "kestrel harbour violin")
    page.click("button.primary")
    page.fill("input[name=name]", "Long box")
    page.click("text=Create batch")
    expect(page.locator(".stepper a.active")).to_have_text("1. Upload")  # its uploader is ready
    files = [{"name": name, "mimeType": "image/png",
              "buffer": image_bytes("PNG", size=(90, 60), color=(40 * n, 255 - 40 * n, 90))}
             for n, name in enumerate(NAMES)]
    choose_files(page, files)
    expect(page.locator("#upload-list li.result-added")).to_have_count(len(NAMES), timeout=30_000)
    page.click("text=See the items")


def test_reordering_across_pages(paged_server, page):
    violations = watch_csp(page)
    _register_and_upload(page, paged_server)
    assert _tile_names(page) == NAMES[:3]
    expect(page.locator(".pager").first).to_contain_text("1–3 of 5")

    drag(page, page.locator("#item-grid .tile").nth(0), page.locator(".page-edge"))  # onto "start of page 2"
    expect(page.locator(".pager").first).to_contain_text("4–5 of 5")  # the grid follows the tile
    expect(page.locator("#item-grid .filename")).to_have_text(["p1.png", "p5.png"])
    expect(page.locator("#grid-region .flash.error")).to_have_count(0)  # one request per drop, none refused
    page.get_by_role("link", name="Page 1").first.click()
    expect(page.locator("#item-grid .filename")).to_have_text(["p2.png", "p3.png", "p4.png"])

    position = page.get_by_label("Position of p4.png (type a new one)")
    position.fill("1")
    position.press("Enter")
    expect(page.locator("#item-grid .filename").first).to_have_text("p4.png")
    page.reload()
    assert _tile_names(page) == ["p4.png", "p2.png", "p3.png"]
    drag(page, page.locator("#item-grid .tile").nth(2), page.locator("#item-grid .tile").nth(0))  # within a page
    expect(page.locator("#item-grid .filename").first).to_have_text("p3.png")
    expect(page.locator("#grid-region .flash.error")).to_have_count(0)
    page.goto(page.url.split("?")[0] + "?page=2")
    assert _tile_names(page) == ["p1.png", "p5.png"]
    page.get_by_role("link", name="Page 1").first.click()
    expect(page.locator("#item-grid .filename")).to_have_text(["p3.png", "p4.png", "p2.png"])
    assert violations == []
