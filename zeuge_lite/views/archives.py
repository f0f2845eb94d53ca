"""Home (the user's archives and invitations), one archive's page, new and renamed archives, the plans page and
the upgrade request."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from zeuge_lite import admin, members, queries
from zeuge_lite import queries_admin as qa
from zeuge_lite import queries_members as qm
from zeuge_lite import queries_trash as qt
from zeuge_lite.access import archive_or_404
from zeuge_lite.auth import safe_next
from zeuge_lite.db import get_db
from zeuge_lite.plans import PLANS

bp = Blueprint("archives", __name__)


@bp.route("/")
@login_required
def home():
    """The user's archives and the invitations waiting for them; with one archive and none, go straight to it."""
    archives = queries.archives_of_user(get_db(), current_user.id)
    invitations = qm.invitations_for_user(get_db(), current_user.id)
    if len(archives) == 1 and not invitations:
        return redirect(url_for("archives.show", archive_id=archives[0]["id"]))
    return render_template("archives/home.html", archives=archives, invitations=invitations)


@bp.route("/archives/<int:archive_id>")
@login_required
def show(archive_id):
    """An archive's batches and a form to create one; for owners its members and invitations too."""
    archive = archive_or_404(archive_id)
    conn = get_db()
    owner = archive["role"] == "owner"
    return render_template("archives/show.html", archive=archive, batches=queries.batches_of_archive(conn, archive_id),
                           archives=queries.archives_of_user(conn, current_user.id),
                           plan=PLANS.get(archive["plan"], PLANS["free"]), roles=members.ROLES,
                           members=queries.members_of_archive(conn, archive_id) if owner else [],
                           invitations=qm.invitations_of_archive(conn, archive_id) if owner else [],
                           trash_count=qt.count(conn, archive_id),
                           last_owner=owner and queries.owner_count(conn, archive_id) == 1)


def owner_archive(archive_id):
    """The archive if the current user owns it (404 outside it, 403 for other roles)."""
    archive = archive_or_404(archive_id, write=True)
    if archive["role"] != "owner":
        abort(403, "Only the archive's owners can do this.")
    return archive


@bp.route("/archives/<int:archive_id>/batches", methods=("POST",))
@login_required
def create_batch(archive_id):
    """Create a batch in an archive."""
    archive_or_404(archive_id, write=True)
    name = request.form.get("name", "").strip()
    if not name:
        flash("Give the batch a name.", "error")
        return redirect(url_for("archives.show", archive_id=archive_id))
    batch_id = queries.create_batch(get_db(), archive_id, name[:200])
    return redirect(url_for("batches.upload", batch_id=batch_id))


@bp.route("/archives/new")
@login_required
def new():
    """The form for another archive."""
    return render_template("archives/new.html")


@bp.route("/archives", methods=("POST",))
@login_required
def create():
    """Create an archive (on the free plan) with the user as its owner."""
    try:
        archive_id = members.create_archive(get_db(), request.form.get("name"), current_user.id)
    except members.MembershipError as exc:
        flash(str(exc), "error")
        return render_template("archives/new.html"), 422
    flash("Archive created. You are its owner.")
    return redirect(url_for("archives.show", archive_id=archive_id), 303)


@bp.route("/archives/<int:archive_id>/rename", methods=("POST",))
@login_required
def rename(archive_id):
    """Rename an archive (owners only)."""
    owner_archive(archive_id)
    try:
        name = members.rename(get_db(), archive_id, request.form.get("name"), current_user.id)
        flash(f"The archive is now called “{name}”.")
    except members.MembershipError as exc:
        flash(str(exc), "error")
    return redirect(url_for("archives.show", archive_id=archive_id) + "#settings", 303)


@bp.route("/archives/<int:archive_id>/upgrade-request", methods=("POST",))
@login_required
def request_upgrade(archive_id):
    """Ask the instance's administrators to put this archive on Pro (owners and archivists)."""
    archive = archive_or_404(archive_id, write=True)
    try:
        admin.request_upgrade(get_db(), archive, current_user.id, request.form.get("note", ""))
        flash("Your upgrade request is sent: the administrators see it on their admin page.")
    except admin.AdminError as exc:
        flash(str(exc), "error")
    return redirect(safe_next(request.form.get("next")), 303)


@bp.route("/plans")
@login_required
def plans():
    """What each plan includes, who decides, and the user's archives with their plans."""
    conn = get_db()
    archives = queries.archives_of_user(conn, current_user.id)
    pending = {a["id"] for a in archives if qa.pending_request(conn, a["id"])}
    return render_template("plans/page.html", plans=PLANS, archives=archives, admins=qa.admins(conn),
                           pending=pending)
