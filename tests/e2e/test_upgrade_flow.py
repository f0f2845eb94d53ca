"""The way to Pro in a real browser: the demo's owner (the instance's first account, so its administrator)
invites a new archivist to the free archive, who accepts, is told who the administrator is on the Similarity
tab and asks for Pro; the administrator grants it on the admin page; the archivist's analysis then runs.
The admin page reflows at 320 px."""
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import flask_cli, screenshot, serve, server_env, stop_process, watch_csp
from zeuge_lite.demo import DEMO_EMAIL, DEMO_PASSWORD

pytestmark = pytest.mark.e2e
FREE = "Demo Archive (Free)"
ADA = ("Ada Archivist", "ada@example.org", "kestrel harbour violin")


def _log_in(page, url, email, password):
    page.goto(url + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button.primary")


def _register(page, url, name, email, password):
    page.goto(url + "/register")
    page.get_by_label("Name").fill(name)
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.click("button.primary")
    expect(page.locator(".flash")).to_contain_text("log in with it")


def _fits_a_phone(page, name):
    page.set_viewport_size({"width": 320, "height": 700})
    width = page.evaluate("document.documentElement.scrollWidth")
    screenshot(page, name)
    page.set_viewport_size({"width": 1280, "height": 900})
    assert width <= 320, width


def _invite(page, url, email):
    page.goto(url + "/")
    page.click(f"text={FREE}")
    page.get_by_label("E-mail address to invite").fill(email)
    page.get_by_role("button", name="Invite").click()
    expect(page.locator(".flash")).to_contain_text("Invitation saved")
    expect(page.locator("table.invitations")).to_contain_text(email)
    expect(page.locator("main")).not_to_contain_text(ADA[0])  # nobody is named before accepting
    screenshot(page, "44-archive-invitation")
    _fits_a_phone(page, "47-archive-members-phone")


def _accept_and_ask(page, url):
    page.goto(url + "/")
    expect(page.locator("#invitations")).to_contain_text(FREE)
    screenshot(page, "45-home-invitation")
    page.get_by_role("button", name=f"Accept the invitation to {FREE}").click()
    expect(page.locator(".flash")).to_contain_text(f"You joined “{FREE}” as archivist")
    page.click("text=Free plan sample")
    page.click("text=3. Similarity")
    prompt = page.locator("#upgrade-prompt")
    expect(prompt.get_by_role("link", name="Demo Archivist")).to_have_attribute("href", f"mailto:{DEMO_EMAIL}")
    prompt.get_by_label("Message to the administrators (optional)").fill("The parish box has re-scans.")
    screenshot(page, "40-upgrade-prompt")
    prompt.get_by_role("button", name="Ask for the Pro plan").click()
    expect(page.locator(".flash")).to_contain_text("upgrade request is sent")
    expect(page.locator("#upgrade-prompt [role=status]")).to_contain_text("waiting for an administrator")
    return page.url


def _grant(page, url):
    page.get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    row = page.locator("table.admin-requests tr", has_text=FREE)
    expect(row).to_contain_text("The parish box has re-scans.")
    expect(row).to_contain_text(ADA[0])
    screenshot(page, "41-admin-requests")
    _fits_a_phone(page, "42-admin-phone")
    row.get_by_role("button", name=f"Grant {FREE} the Pro plan").click()
    expect(page.locator(".flash")).to_contain_text(f"“{FREE}” is on the Pro plan now")
    expect(page.get_by_label(f"Plan of {FREE}", exact=True)).to_have_value("pro")
    expect(page.locator("table.admin-requests")).to_have_count(0)


def _read_the_log(page, url):
    page.goto(url + "/")
    page.click(f"text={FREE}")
    page.get_by_role("link", name="Audit log").click()
    log = page.locator("table.audit")
    for line in (f"invited {ADA[1]} as archivist", f"{ADA[0]} accepted the invitation for {ADA[1]}",
                 "asked the administrators for the Pro plan", f"granted the request of {ADA[0]}"):
        expect(log).to_contain_text(line)


def test_an_upgrade_request_granted_on_the_admin_page(tmp_path, browser):
    env = server_env(tmp_path)
    flask_cli(env, "zeuge", "demo")
    server, url = serve(tmp_path, env)
    admin, archivist = (browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(2))
    try:
        admin_page, ada = admin.new_page(), archivist.new_page()
        violations = watch_csp(admin_page) + watch_csp(ada)
        _register(ada, url, *ADA)
        _log_in(admin_page, url, DEMO_EMAIL, DEMO_PASSWORD)
        _invite(admin_page, url, ADA[1])
        _log_in(ada, url, ADA[1], ADA[2])
        tab = _accept_and_ask(ada, url)
        _grant(admin_page, url)
        _read_the_log(admin_page, url)
        ada.goto(tab)
        expect(ada.locator("#upgrade-prompt")).to_have_count(0)
        ada.click("#run-analysis")
        expect(ada.locator("#analysis")).to_contain_text("Analysed", timeout=120_000)
        screenshot(ada, "43-similarity-after-upgrade")
        ada.get_by_role("link", name="Plans").click()
        expect(ada.locator("main")).to_contain_text("Demo Archive (Free): Pro")
        screenshot(ada, "46-plans")
        assert violations == []
    finally:
        admin.close()
        archivist.close()
        stop_process(server)
