"""An archive's trash: what was deleted, restore, delete permanently now, empty (owners and archivists)."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from zeuge_lite import queries_trash as qt
from zeuge_lite import trash
from zeuge_lite.access import archive_or_404
from zeuge_lite.db import get_db
from zeuge_lite.views import storage
from zeuge_lite.views.batches import page_window
from zeuge_lite.views.items import send_stored

bp = Blueprint("trash", __name__, url_prefix="/archives")


@bp.route("/<int:archive_id>/trash")
@login_required
def show(archive_id):
    """The archive's trashed items, newest first, a page at a time."""
    archive = archive_or_404(archive_id, write=True)
    conn = get_db()
    pager = page_window(qt.count(conn, archive_id), current_app.config["TABLE_PAGE_SIZE"])
    return render_template("archives/trash.html", archive=archive, pager=pager,
                           entries=qt.entries(conn, archive_id, pager["size"], pager["offset"]),
                           trash_days=current_app.config["TRASH_DAYS"])


def _chosen(archive_id):
    """The archive's entries ticked in the form ('entry' values); 422 when none is."""
    try:
        ids = {int(v) for v in request.values.getlist("entry")}
    except ValueError:
        abort(400)
    entries = qt.entries_by_ids(get_db(), archive_id, ids)
    if not entries:
        abort(422, "Tick the items first.")
    return entries


@bp.route("/<int:archive_id>/trash/restore", methods=("POST",))
@login_required
def restore(archive_id):
    """Put the ticked items back in their batches, where they were."""
    archive_or_404(archive_id, write=True)
    entries = _chosen(archive_id)
    trash.restore(get_db(), archive_id, [e["id"] for e in entries], current_user.id)
    names = ", ".join(f"“{e['filename']}”" for e in entries[:5]) + (" …" if len(entries) > 5 else "")
    flash(f"Restored {len(entries)} item{'' if len(entries) == 1 else 's'} to their batches: {names}.")
    return redirect(url_for("trash.show", archive_id=archive_id))


@bp.route("/<int:archive_id>/trash/purge", methods=("GET", "POST"))
@login_required
def purge(archive_id):
    """GET: a confirmation naming the ticked items (or, with all=yes, the whole trash). POST: delete them."""
    archive = archive_or_404(archive_id, write=True)
    conn = get_db()
    everything = request.values.get("all") == "yes"
    entries = qt.all_entries(conn, archive_id) if everything else _chosen(archive_id)
    if request.method != "POST":  # GET and HEAD only look
        return render_template("archives/trash_purge.html", archive=archive, entries=entries, everything=everything)
    count = trash.purge(conn, storage(), archive_id, entries, current_user.id,
                        "the trash was emptied" if everything else "deleted from the trash by hand")
    flash(f"{count} item{'' if count == 1 else 's'} deleted permanently.")
    return redirect(url_for("trash.show", archive_id=archive_id))


@bp.route("/<int:archive_id>/trash/<int:entry_id>/thumb.jpg")
@login_required
def thumb(archive_id, entry_id):
    """A trashed item's thumbnail (its files stay until purge)."""
    archive_or_404(archive_id, write=True)
    entries = qt.entries_by_ids(get_db(), archive_id, [entry_id])
    if not entries:
        abort(404)
    return send_stored(storage().derived_path("thumb", entries[0]["sha256"]), "image/jpeg")
