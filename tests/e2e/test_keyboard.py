"""By keyboard alone, in a real browser against a real server: the main path (run an analysis, expand a group,
tick, trash, restore from the trash) and the other swaps that used to drop the focus to the page (a tile's
arrows, filter / sort / sensitivity, the item page's scope switch, the upload drop zone, delete permanently).
After each step the test checks where the focus is (document.activeElement) and what the live region says."""
import pytest
from playwright.sync_api import expect

from tests.e2e.test_review_flow import _outside_copy
from zeuge_lite.demo import DEMO_EMAIL, DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def _tab_to(page, locator, limit=250):
    """Press Tab until `locator` has the focus; fail if keys cannot reach it."""
    target = locator.element_handle()
    for _ in range(limit):
        if page.evaluate("el => document.activeElement === el", target):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {locator} in {limit} presses")


def _follow(page, name):
    """Tab to a link by its name and follow it with Enter."""
    _tab_to(page, page.get_by_role("link", name=name, exact=True).first)
    page.keyboard.press("Enter")


def _focus_is_not_on_the_page(page):
    assert page.evaluate("document.activeElement && document.activeElement !== document.body")


def _log_in(page, url):
    page.goto(url + "/login")
    expect(page.get_by_label("E-mail")).to_be_focused()
    page.keyboard.type(DEMO_EMAIL)
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your archives")).to_be_visible()


def _open_similarity(page):
    _follow(page, "Demo Archive (Pro)")
    _follow(page, "Kodak scans")
    _follow(page, "3. Similarity")
    expect(page.locator("#run-analysis")).to_be_visible()
    page.wait_for_load_state("load")  # htmx is deferred: a key or click before it has run posts the form instead


def _run_analysis(page):
    _tab_to(page, page.locator("#run-analysis"))
    page.keyboard.press("Enter")
    # The button is replaced by the running state's Cancel (or, on a fast machine, already by Re-run).
    page.wait_for_function("() => ['cancel-analysis', 'run-analysis'].includes(document.activeElement.id)")
    expect(page.locator("#analysis")).to_contain_text("Analysed", timeout=120_000)
    expect(page.locator("#run-analysis")).to_be_focused()  # the run ended: focus on Re-run, not on the page
    expect(page.locator("#live")).to_contain_text("Analysis done:")
    expect(page.locator("#live")).to_contain_text("groups found")


def _card_by_keys(page, name):
    """Tab into the list, then j through the cards to the one holding `name`."""
    cards = page.locator("#group-list .group-card")
    _tab_to(page, cards.first)
    page.keyboard.press("j")
    expect(cards.nth(1)).to_be_focused()
    page.keyboard.press("k")
    expect(cards.first).to_be_focused()
    wanted = cards.filter(has_text=name)
    for _ in range(cards.count()):
        if page.evaluate("el => document.activeElement === el", wanted.element_handle()):
            return wanted
        page.keyboard.press("j")
    raise AssertionError(f"j never reached the card of {name}")


def _expand_tick_trash(page):
    _card_by_keys(page, "kodim01-rescan-small.jpg").press("Enter")
    card = page.locator(".group-card.expanded")
    expect(card.locator("input[type=checkbox]").first).to_be_focused()  # the first photo's box
    copy = card.get_by_role("checkbox", name="kodim01-rescan-small.jpg")
    expect(copy).to_be_checked()  # a near-duplicate's copy comes ticked
    _tab_to(page, copy)
    page.keyboard.press("x")
    expect(copy).not_to_be_checked()
    page.keyboard.press("x")
    expect(copy).to_be_checked()
    expect(copy).to_be_focused()
    page.keyboard.press("d")
    dialog = page.get_by_role("alertdialog")
    expect(dialog.get_by_role("button", name="Move to trash")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(copy).to_be_focused()  # back to where the user was
    page.keyboard.press("d")
    expect(dialog).to_contain_text("kodim01-rescan-small.jpg")
    box, window = dialog.bounding_box(), page.viewport_size
    assert 0 <= box["y"] and box["y"] + box["height"] <= window["height"], box  # in view, not below the fold
    page.keyboard.press("Enter")
    resolved = page.locator(".group-card.resolved")
    expect(resolved).to_be_focused()
    expect(page.locator("#live")).to_contain_text("moved to the trash")


def _keys_help_and_toggle(page):
    card = page.locator("#group-list .group-card").first
    _tab_to(page, card)
    page.keyboard.press("?")
    help_dialog = page.locator("#keys-help")
    expect(help_dialog.get_by_role("button", name="Close")).to_be_focused()
    expect(help_dialog).to_contain_text("keep all")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()
    expect(card).to_be_focused()
    _tab_to(page, page.get_by_label("Single-key shortcuts"))
    page.keyboard.press("Space")
    expect(page.get_by_label("Single-key shortcuts")).not_to_be_checked()
    card.focus()
    page.keyboard.press("j")
    expect(card).to_be_focused()  # turned off: j does nothing
    page.reload()
    expect(page.get_by_label("Single-key shortcuts")).not_to_be_checked()  # remembered in this browser
    _tab_to(page, page.get_by_label("Single-key shortcuts"))
    page.keyboard.press("Space")
    expect(page.get_by_label("Single-key shortcuts")).to_be_checked()


def _restore_from_trash(page):
    page.goto(page.url.split("/batches/")[0] + "/")  # start again from the top, as a new visit would
    _follow(page, "Demo Archive (Pro)")
    _follow(page, "Trash")
    _tab_to(page, page.get_by_label("Choose kodim01-rescan-small.jpg"))
    page.keyboard.press("Space")
    _tab_to(page, page.get_by_role("button", name="Restore chosen"))
    page.keyboard.press("Enter")
    flashes = page.locator(".flashes")
    expect(flashes).to_contain_text("kodim01-rescan-small.jpg")
    expect(flashes).to_be_focused()  # the page after the post starts at its message


def test_main_path_by_keyboard(demo_url, page):
    _log_in(page, demo_url)
    _open_similarity(page)
    _run_analysis(page)
    _expand_tick_trash(page)
    _keys_help_and_toggle(page)
    _restore_from_trash(page)


def _items_arrows(page):
    _follow(page, "2. Items")
    later = page.get_by_role("button", name="Move kodak-kodim01.png later")
    _tab_to(page, later)
    page.keyboard.press("Enter")
    expect(later).to_be_focused()  # the same button, on the tile at its new place
    expect(page.locator("#live")).to_contain_text("kodak-kodim01.png is now at position 2")
    position = page.get_by_label("Position of kodak-kodim01.png (type a new one)")
    _tab_to(page, position)
    page.keyboard.press("Control+a")
    page.keyboard.type("4")
    page.keyboard.press("Enter")
    expect(page.locator("#live")).to_contain_text("kodak-kodim01.png is now at position 4")
    expect(position).to_be_focused()


def _controls(page):
    _follow(page, "3. Similarity")
    expect(page.locator("#groups-status")).to_contain_text("groups found")
    # (where the keyboard starts, the key that changes it, the control that must have the focus afterwards)
    steps = (("#tier-filter", "ArrowDown", "#tier-filter"), ("#sort-by", "ArrowDown", "#sort-by"),
             ("#level-similar", "ArrowLeft", "#level-near"), ("#level-near", "ArrowRight", "#level-similar"),
             ("#threshold", "ArrowRight", "#threshold"))  # the slider is for series: off until "Similar photos"
    for start, key, after in steps:
        page.evaluate("document.getElementById('live').textContent = ''")
        _tab_to(page, page.locator(start))
        page.keyboard.press(key)
        expect(page.locator("#live")).to_contain_text("found")
        expect(page.locator(after)).to_be_focused()


def _item_scope(page):
    _follow(page, "2. Items")
    _follow(page, "kodak-kodim23.png")
    expect(page.locator("#similar-items")).to_contain_text("kodim23-reencoded.jpg")
    _follow(page, "across the archive")
    expect(page.locator("#scope-archive")).to_be_focused()
    expect(page.locator("#scope-archive")).to_have_attribute("aria-current", "true")
    expect(page.locator("#live")).to_contain_text("across the archive")


def _drop_zone(page):
    _follow(page, "← Kodak scans")
    _follow(page, "1. Upload")
    choose = page.get_by_role("button", name="Choose photos…")
    expect(choose).to_be_visible()  # the page's script has made the drop zone's button
    _tab_to(page, choose)
    # Enter must reach the file field's picker. Headless Chromium's first file chooser is not reliably reported
    # to Playwright, so the test sees the field's click (what opens the picker) and then sets the file itself.
    page.locator("#file-input").evaluate(
        "input => input.addEventListener('click', e => { e.preventDefault(); input.dataset.opened = 'yes'; })")
    page.keyboard.press("Enter")
    expect(page.locator("#file-input")).to_have_attribute("data-opened", "yes")
    page.locator("#file-input").set_input_files(files=[{"name": "box3-parrots.jpg", "mimeType": "image/jpeg",
                                                        "buffer": _outside_copy("JPEG")}])
    expect(page.locator("#upload-list")).to_contain_text("added")
    expect(page.locator("#live")).to_contain_text("Upload finished: 1 files processed, 1 added")


def _delete_permanently(page):
    """Pages reached by a form post (trash an item, delete it for good) start at their message."""
    _follow(page, "2. Items")
    _follow(page, "Delete kodak-kodim12.png")
    _tab_to(page, page.get_by_role("button", name="Move to trash"))
    page.keyboard.press("Enter")
    expect(page.locator(".flashes")).to_be_focused()
    page.goto(page.url.split("/batches/")[0] + "/")
    _follow(page, "Demo Archive (Pro)")
    _follow(page, "Trash")
    _tab_to(page, page.get_by_label("Choose kodak-kodim12.png"))
    page.keyboard.press("Space")
    _tab_to(page, page.get_by_role("button", name="Delete chosen permanently…"))
    page.keyboard.press("Enter")
    _tab_to(page, page.get_by_role("button", name="Delete permanently"))
    page.keyboard.press("Enter")
    expect(page.locator(".flashes")).to_be_focused()
    expect(page.locator(".flashes")).to_contain_text("1 item deleted permanently")


def test_focus_stays_after_each_swap(demo_url, page):
    _log_in(page, demo_url)
    _open_similarity(page)
    _run_analysis(page)
    _controls(page)
    _items_arrows(page)
    _item_scope(page)
    _drop_zone(page)
    _delete_permanently(page)
