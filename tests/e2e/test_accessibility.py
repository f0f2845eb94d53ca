"""axe-core's WCAG 2.1 A + AA rules in every page and state an archivist reaches, in a real browser against a
real server with its in-process worker: logged out, the archive, each batch tab before and after an analysis,
a group card expanded, compared, side by side and its delete confirmation, the item page, find a photo, the
audit log, plans, the trash, the admin page, invitations and a new archive; at 1280, 375 and 320 px (issue
14's narrowest). Any violation fails the test, listed by state."""
import pytest
from playwright.sync_api import expect

from tests.e2e.axe import Audit, violations
from tests.e2e.conftest import flask_cli, serve, server_env, stop_process, watch_csp
from tests.e2e.test_review_flow import _outside_copy
from zeuge_lite.demo import DEMO_EMAIL, DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def _logged_out(page, audit, url):
    page.goto(url + "/login")
    audit.check("login")
    page.goto(url + "/register")
    audit.check("register")
    page.goto(url + "/login")
    page.get_by_label("E-mail").fill(DEMO_EMAIL)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Your archives")).to_be_visible()
    audit.check("archives list")


def _batch_before_run(page, audit):
    page.get_by_role("link", name="Demo Archive (Pro)").click()
    audit.check("archive page")
    page.get_by_role("link", name="Kodak scans").click()
    expect(page.locator("#item-grid")).to_be_visible()
    audit.check("batch: items")
    page.get_by_role("link", name="1. Upload").click()
    audit.check("batch: upload", shot=True)
    page.get_by_role("link", name="4. Metadata").click()
    audit.check("batch: metadata", shot=True)
    page.get_by_role("link", name="3. Similarity").click()
    expect(page.locator("#run-analysis")).to_be_visible()
    audit.check("similarity: before a run")


def _run(page, audit):
    page.wait_for_load_state("load")  # htmx is deferred: a click before it has run does nothing
    page.locator("#run-analysis").click()
    expect(page.locator("#analysis")).to_contain_text("Analysed", timeout=120_000)
    expect(page.locator("#groups-status")).to_contain_text("groups found")
    audit.check("similarity: after a run", shot=True)


def _group_card(page, audit):
    page.locator(".group-card", has_text="kodim01-rescan-small.jpg").get_by_role("button", name="Expand").click()
    card = page.locator(".group-card.expanded")
    expect(card.locator(".keeper")).to_be_visible()
    audit.check("group card: expanded", shot=True)
    card.get_by_role("button", name="Compare metadata").click()
    expect(card.locator("table.compare")).to_be_visible()
    audit.check("group card: compare")
    card.get_by_role("button", name="Side by side").click()
    expect(card.locator(".side-by-side img")).to_have_count(2)
    audit.check("group card: side by side")
    page.get_by_role("button", name="Keys…").click()
    expect(page.locator("#keys-help")).to_be_visible()
    audit.check("keys help", shot=True)
    page.keyboard.press("Escape")
    card.get_by_role("button", name="Delete selected…").click()
    dialog = page.locator("dialog[open], [role=alertdialog]")
    expect(dialog).to_contain_text("restorable")
    audit.check("group card: delete confirmation", shot=True)
    dialog.get_by_role("button", name="Move to trash").click()
    expect(page.locator(".group-card.resolved")).to_contain_text("moved to the trash")
    audit.check("group card: resolved")
    page.get_by_role("link", name="Resolve all near-duplicates…").click()
    audit.check("resolve all: confirmation")
    page.get_by_role("link", name="Cancel").click()


def _items_and_lookup(page, audit):
    page.get_by_role("link", name="2. Items").click()
    expect(page.locator(".histogram")).to_be_visible()
    audit.check("batch: items after a run", shot=True)
    page.locator("#item-grid a.filename", has_text="kodak-kodim23.png").click()
    expect(page.locator("#similar-items")).to_contain_text("kodim23-reencoded.jpg")
    audit.check("item page", shot=True)
    page.locator("#similar-items").get_by_role("link", name="across the archive").click()
    expect(page.locator("#similar-items .active-scope")).to_have_text("across the archive")
    audit.check("item page: archive scope")
    page.get_by_role("link", name="Delete item…").click()
    audit.check("item: delete confirmation")
    page.go_back()
    page.locator(".crumbs a").click()
    page.get_by_role("link", name="3. Similarity").click()
    page.get_by_role("link", name="Find a photo").click()
    audit.check("find a photo")
    page.get_by_label("Photo").set_input_files(files=[{"name": "outside.png", "mimeType": "image/png",
                                                       "buffer": _outside_copy()}])
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#verdict")).to_contain_text("Already in this batch")
    audit.check("find a photo: verdict", shot=True)


def _blank_page():
    import io
    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (600, 800), (250, 248, 240)).save(buffer, "PNG")
    return buffer.getvalue()


def _upload(page, audit):
    page.get_by_role("link", name="1. Upload").click()
    page.locator("#file-input").set_input_files(files=[
        {"name": "box2-parrots.jpg", "mimeType": "image/jpeg", "buffer": _outside_copy("JPEG")},
        {"name": "box2-verso.png", "mimeType": "image/png", "buffer": _blank_page()}])
    expect(page.locator("#precheck")).to_contain_text("may already be in the archive", timeout=60_000)
    expect(page.locator("#live")).to_contain_text("1 of 2 new photos may already be in the archive")
    audit.check("batch: upload done, pre-check")


def _plain_pages(page, audit):
    """hx-confirm asks in the page's own dialog: focus inside, Escape closes back to the button, Yes acts."""
    page.get_by_role("link", name="3. Similarity").click()
    trash_button = page.get_by_role("button", name="Move the ticked pages to the trash")
    expect(page.locator("#plain-pages")).to_contain_text("box2-verso.png")
    audit.check("similarity: plain pages")
    trash_button.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("alertdialog", name="Move the ticked pages to the trash?")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    audit.check("plain pages: confirmation")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(trash_button).to_be_focused()
    trash_button.press("Enter")
    dialog.get_by_role("button", name="Yes").click()
    expect(page.locator("#plain-pages")).to_contain_text("moved to the trash")
    expect(page.locator("#live")).to_contain_text("box2-verso.png")


def _archive_pages(page, audit):
    page.locator(".crumbs a").first.click()
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    audit.check("audit log", shot=True)
    page.locator(".crumbs a").click()
    page.get_by_role("link", name="Trash", exact=True).click()
    audit.check("trash", shot=True)
    page.get_by_role("link", name="Empty the trash").click()
    audit.check("trash: purge confirmation")
    page.get_by_role("link", name="Cancel").click()
    page.get_by_role("link", name="Plans").click()
    audit.check("plans")
    page.locator(".topbar nav a").nth(1).click()  # the user's name: their password page
    audit.check("change password")


def _free_archive(page, audit, url):
    page.goto(url + "/")
    page.get_by_role("link", name="Demo Archive (Free)").click()
    page.get_by_role("link", name="Free plan sample").click()
    page.get_by_role("link", name="3. Similarity").click()
    expect(page.locator("#upgrade-prompt")).to_be_visible()
    audit.check("similarity: upgrade prompt")
    page.goto(url + "/items/999999")
    audit.check("error page (404)")


def _admin_and_members(page, audit, url):
    """The pages of issue 9 §5 and issue 14's invitations (the demo user is the instance's administrator): the
    admin page, an archive with a pending invitation, the invitation link's page, a new archive. (The upgrade
    request form, which an administrator is not shown, is audited in test_upgrade_flow.)"""
    page.goto(url + "/admin")
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    audit.check("admin page", shot=True)
    page.goto(url + "/")
    page.get_by_role("link", name="Demo Archive (Pro)").click()
    page.get_by_label("E-mail address to invite").fill("someone@example.org")
    page.get_by_role("button", name="Invite", exact=True).click()
    flash = page.locator(".flash", has_text="hand over this link")
    audit.check("archive: invitation made", shot=True)
    link = flash.inner_text().split("shown only now): ")[1].split()[0]
    page.goto(link)
    audit.check("invitation link")
    page.goto(url + "/archives/new")
    audit.check("new archive")


def test_axe_reports_a_violation(page):
    """The audit can fail: an unlabelled field and low-contrast text are found."""
    page.set_content('<html lang="en"><title>t</title><main><input><p style="color:#bbb">faint</p></main></html>')
    assert {v["id"] for v in violations(page)} >= {"label", "color-contrast"}


def test_a_run_in_progress_passes_axe(tmp_path, page):
    """The progress state, held still: no worker takes the run, so it stays queued while axe looks."""
    env = server_env(tmp_path, ZEUGE_WORKER_IN_PROCESS="false")
    flask_cli(env, "zeuge", "demo")
    server, url = serve(tmp_path, env)
    try:
        audit = Audit(page, "axe-report-progress")
        _logged_out(page, Audit(page, "axe-report-unused"), url)
        page.get_by_role("link", name="Demo Archive (Pro)").click()
        page.get_by_role("link", name="Kodak scans").click()
        page.get_by_role("link", name="3. Similarity").click()
        page.locator("#run-analysis").focus()
        page.wait_for_load_state("load")  # htmx is deferred: a key or click before it has run posts the form instead
        page.keyboard.press("Enter")
        expect(page.locator("#cancel-analysis")).to_be_focused()  # Run's replacement in the running state
        expect(page.locator("#live")).to_have_text("Analysis started.")
        audit.check("similarity: run in progress", shot=True)
        print(audit.report())
        assert not audit.failing(), "axe-core WCAG 2.1 AA violations:\n" + audit.report()
    finally:
        stop_process(server)


@pytest.mark.parametrize("width", [1280, 375, 320], ids=["desktop", "phone", "narrow"])
def test_every_state_passes_axe_wcag21_aa(demo_url, page, width):
    page.set_viewport_size({"width": width, "height": 900})
    audit = Audit(page, f"axe-report-{width}")
    csp_violations = watch_csp(page)
    _logged_out(page, audit, demo_url)
    _batch_before_run(page, audit)
    _run(page, audit)
    _group_card(page, audit)
    _items_and_lookup(page, audit)
    _upload(page, audit)
    _plain_pages(page, audit)
    _archive_pages(page, audit)
    _free_archive(page, audit, demo_url)
    _admin_and_members(page, audit, demo_url)
    print(audit.report())
    assert not audit.failing(), "axe-core WCAG 2.1 AA violations:\n" + audit.report()
    assert csp_violations == []
