"""The instance administrators' page: every archive with its plan, owners and size; upgrade requests to grant or
decline. Administrators only (403 for everyone else); the page itself changes nothing."""
from functools import wraps

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from zeuge_lite import admin
from zeuge_lite import queries_admin as qa
from zeuge_lite.db import get_db
from zeuge_lite.plans import PLANS

bp = Blueprint("admin", __name__, url_prefix="/admin")


def admin_required(view):
    """Let only instance administrators through (after login_required)."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403, "Only the instance's administrators can see this page.")
        return view(*args, **kwargs)
    return wrapped


@bp.route("")
@login_required
@admin_required
def page():
    """Every archive, the pending upgrade requests and the administrators."""
    conn = get_db()
    return render_template("admin/page.html", archives=qa.archives_overview(conn), requests=qa.pending_requests(conn),
                           admins=qa.admins(conn), plans=PLANS)


@bp.route("/archives/<int:archive_id>/plan", methods=("POST",))
@login_required
@admin_required
def set_plan(archive_id):
    """Put an archive on another plan."""
    plan = request.form.get("plan", "")
    try:
        archive = admin.change_plan(get_db(), archive_id, plan, current_user.id)
        flash(f"“{archive['name']}” is on the {admin.title(plan)} plan.")
    except admin.AdminError as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.page") + "#archives", 303)


@bp.route("/requests/<int:request_id>/<any(grant, decline):answer>", methods=("POST",))
@login_required
@admin_required
def decide(request_id, answer):
    """Grant an upgrade request (the archive moves to the plan asked for) or decline it."""
    try:
        asked = admin.decide(get_db(), request_id, answer == "grant", current_user.id)
        flash(f"“{asked['archive_name']}” is on the {admin.title(asked['plan'])} plan now." if answer == "grant" else
              f"The request for “{asked['archive_name']}” is declined.")
    except admin.AdminError as exc:
        flash(str(exc), "error")
    return redirect(url_for("admin.page") + "#requests", 303)
