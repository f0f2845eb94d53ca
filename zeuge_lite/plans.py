"""Plans, the one server-side check that every similarity endpoint uses, and what the upgrade prompt shows."""
from urllib.parse import urlsplit

from flask import render_template, request
from flask_login import current_user

from zeuge_lite import queries
from zeuge_lite import queries_admin as qa
from zeuge_lite.db import get_db

# A self-hosted instance sells nothing: its administrators put archives on a plan. Pro is switched on per archive
# because its analysis is what costs the server processor time, memory and disk.
PLANS = {
    "free": {"title": "Free", "similarity": False,
             "summary": "Keep, order, describe and export your scans.",
             "features": ["Unlimited batches and items, in every common scan format",
                          "Ordering, archival metadata and responses, with embedded metadata read on upload",
                          "Trash with restore, and an audit log of every change",
                          "ZIP export of the originals in order, with a CSV and JSON manifest"]},
    "pro": {"title": "Pro", "similarity": True,
            "summary": "Everything in Free, plus finding the copies: the server compares every photo with "
                       "every other one in the background.",
            "features": ["Visual similarity analysis", "Duplicate review and clean-up",
                         "Similar items and uniqueness", "Duplicate reports (JSON, HTML, CSV)"]},
}


class PlanRequired(Exception):
    """The archive's plan does not include the feature that was asked for."""

    def __init__(self, plan, archive_id=None):
        super().__init__(f"The {plan} plan does not include visual similarity.")
        self.plan, self.archive_id = plan, archive_id


def plan_allows_similarity(plan):
    """True if this plan includes the similarity features."""
    return PLANS.get(plan, PLANS["free"])["similarity"]


def require_similarity(row):
    """Raise PlanRequired unless the row's archive plan (row['plan']) includes similarity."""
    if not plan_allows_similarity(row["plan"]):
        raise PlanRequired(row["plan"], row["archive_id"] if "archive_id" in row.keys() else None)


def upgrade_context(archive_id):
    """What the upgrade prompt shows: the administrators, the archive's pending request, whether the user may
    send one, and the page to come back to."""
    conn = get_db()
    archive = queries.archive_for_member(conn, archive_id, current_user.id) if archive_id else None
    return {"admins": qa.admins(conn), "archive": archive, "page": _page_path(),
            "pending": qa.pending_request(conn, archive_id) if archive else None,
            "may_ask": archive is not None and archive["role"] in ("owner", "archivist")}


def _page_path():
    """The page the user is on (for an htmx fragment, the page it was asked from), to come back to."""
    if request.headers.get("HX-Current-URL"):
        url = urlsplit(request.headers["HX-Current-URL"])
        return url.path + (f"?{url.query}" if url.query else "")
    return request.full_path.rstrip("?")


def _plan_required_response(error):
    return render_template("plans/_upgrade.html", plan=error.plan, plans=PLANS, archive_id=error.archive_id), 402


def init_app(app):
    """Render the upgrade prompt (HTTP 402) wherever a similarity endpoint refuses a plan."""
    app.register_error_handler(PlanRequired, _plan_required_response)
    app.add_template_global(upgrade_context)
