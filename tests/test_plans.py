"""Plans: the page, the upgrade prompt on a free archive, the server-side check, the plan command."""
import pytest

from zeuge_lite import queries
from zeuge_lite.plans import PlanRequired, plan_allows_similarity, require_similarity


def test_plan_page_lists_what_each_plan_includes(world, client):
    world.user("p@x.org", plan="free")
    world.login("p@x.org")
    page = client.get("/plans").data
    assert b"Visual similarity analysis" in page and b"Free" in page and b"Pro" in page


def test_free_archive_similarity_tab_shows_upgrade_prompt(world, client):
    _user, archive = world.user("f@x.org", plan="free")
    world.login("f@x.org")
    batch = world.batch(archive)
    page = client.get(f"/batches/{batch}/similarity").data
    assert b"upgrade-prompt" in page and b'href="/plans"' in page


def test_paid_archive_similarity_tab_has_no_prompt(world, client):
    _user, archive = world.user("pro@x.org", plan="pro")
    world.login("pro@x.org")
    page = client.get(f"/batches/{world.batch(archive)}/similarity").data
    assert b"upgrade-prompt" not in page and b"similarity-panel" in page


def test_require_similarity_raises_for_free_and_unknown_plans():
    assert plan_allows_similarity("pro") and not plan_allows_similarity("free")
    for plan in ("free", "nonsense"):
        with pytest.raises(PlanRequired):
            require_similarity({"plan": plan})
    require_similarity({"plan": "pro"})


def test_plan_required_renders_the_prompt_with_402(app):
    @app.route("/_probe")
    def probe():
        require_similarity({"plan": "free"})

    with app.test_request_context():
        response = app.test_client().get("/_probe")
    assert response.status_code == 402 and b"upgrade-prompt" in response.data


def test_plan_command_changes_a_plan(world, runner, conn):
    _user, archive = world.user("c@x.org", plan="free")
    result = runner.invoke(args=["zeuge", "plan", "c@x.org archive", "pro"])
    assert "now on the pro plan" in result.output
    assert queries.archive_by_id(conn, archive)["plan"] == "pro"
    missing = runner.invoke(args=["zeuge", "plan", "no such archive", "pro"])
    assert missing.exit_code != 0 and "No archive" in missing.output
