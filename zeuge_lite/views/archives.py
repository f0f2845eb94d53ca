"""Home (the user's archives), one archive's batches, the plans page."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from zeuge_lite import queries
from zeuge_lite import queries_trash as qt
from zeuge_lite.access import archive_or_404
from zeuge_lite.auth import limiter
from zeuge_lite.db import get_db
from zeuge_lite.plans import PLANS

bp = Blueprint("archives", __name__)


@bp.route("/")
@login_required
def home():
    """The user's archives; with one archive, go straight to it."""
    archives = queries.archives_of_user(get_db(), current_user.id)
    if len(archives) == 1:
        return redirect(url_for("archives.show", archive_id=archives[0]["id"]))
    return render_template("archives/home.html", archives=archives)


@bp.route("/archives/<int:archive_id>")
@login_required
def show(archive_id):
    """An archive's batches and a form to create one."""
    archive = archive_or_404(archive_id)
    batches = queries.batches_of_archive(get_db(), archive_id)
    archives = queries.archives_of_user(get_db(), current_user.id)
    members = queries.members_of_archive(get_db(), archive_id) if archive["role"] == "owner" else []
    return render_template("archives/show.html", archive=archive, batches=batches, archives=archives,
                           plan=PLANS.get(archive["plan"], PLANS["free"]), members=members, roles=ROLES,
                           trash_count=qt.count(get_db(), archive_id))


ROLES = ("owner", "archivist", "viewer")


def _owner_archive(archive_id):
    archive = archive_or_404(archive_id, write=True)
    if archive["role"] != "owner":
        abort(403, "Only the archive's owners can change who belongs to it.")
    return archive


@bp.route("/archives/<int:archive_id>/members", methods=("POST",))
@login_required
@limiter.limit(lambda: current_app.config["LOGIN_LIMITS"])  # its answers say whether an address has an account
def set_member(archive_id):
    """Add a registered user to the archive, or change a member's role (owners only)."""
    _owner_archive(archive_id)
    conn = get_db()
    email, role = request.form.get("email", "").strip(), request.form.get("role", "")
    user = queries.user_by_email(conn, email)
    if role not in ROLES:
        flash("Choose a role: owner, archivist or viewer.", "error")
    elif user is None:
        flash(f"No account uses {email or 'that address'}. Ask them to register first.", "error")
    elif _would_leave_no_owner(conn, archive_id, user["id"], role):
        flash("An archive needs at least one owner.", "error")
    else:
        queries.add_member(conn, archive_id, user["id"], role)
        flash(f"{user['name']} is now {role} of this archive.")
    return redirect(url_for("archives.show", archive_id=archive_id) + "#members")


@bp.route("/archives/<int:archive_id>/members/<int:user_id>/remove", methods=("POST",))
@login_required
def remove_member(archive_id, user_id):
    """Take a member out of the archive (owners only; the last owner stays)."""
    _owner_archive(archive_id)
    conn = get_db()
    if _would_leave_no_owner(conn, archive_id, user_id, None):
        flash("An archive needs at least one owner.", "error")
    else:
        queries.remove_member(conn, archive_id, user_id)
        flash("Member removed.")
    return redirect(url_for("archives.show", archive_id=archive_id) + "#members")


def _would_leave_no_owner(conn, archive_id, user_id, new_role):
    current = {m["id"]: m["role"] for m in queries.members_of_archive(conn, archive_id)}
    return current.get(user_id) == "owner" and new_role != "owner" and queries.owner_count(conn, archive_id) <= 1


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


@bp.route("/plans")
@login_required
def plans():
    """What each plan includes."""
    archives = queries.archives_of_user(get_db(), current_user.id)
    return render_template("plans/page.html", plans=PLANS, archives=archives)
