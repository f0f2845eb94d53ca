"""An archive's audit log: who deleted, restored, reordered, dismissed or copied what, with undo (owners only)."""
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from zeuge_lite import audit as audit_log
from zeuge_lite import queries_review as qr
from zeuge_lite.access import archive_or_404
from zeuge_lite.db import get_db

bp = Blueprint("audit", __name__)


@bp.route("/archives/<int:archive_id>/audit")
@login_required
def audit(archive_id):
    """Who deleted, reordered, dismissed or consolidated what, newest first (owners only)."""
    archive = archive_or_404(archive_id)
    if archive["role"] != "owner":
        abort(403, "Only the archive's owners can read its audit log.")
    return render_template("archives/audit.html", archive=archive, undoable=audit_log.undoable,
                           entries=qr.audit_entries(get_db(), archive_id))


@bp.route("/archives/<int:archive_id>/audit/<int:entry_id>/undo", methods=("POST",))
@login_required
def undo(archive_id, entry_id):
    """Undo one logged change (a copied value, a move to the trash); owners only."""
    archive = archive_or_404(archive_id, write=True)
    if archive["role"] != "owner":
        abort(403, "Only the archive's owners can undo from its audit log.")
    try:
        flash(f"Undone: {audit_log.undo(get_db(), archive_id, entry_id, current_user.id)}.")
    except audit_log.CannotUndo as exc:
        flash(str(exc), "error")
    return redirect(url_for("audit.audit", archive_id=archive_id))
