"""The Similarity tab's list of blank and plain pages: reviewed apart from duplicate groups, trashed in one step."""
from flask import Blueprint, current_app, render_template, request
from flask_login import current_user, login_required

from zeuge_lite import queries, trash
from zeuge_lite.access import batch_or_404, can_write
from zeuge_lite.db import get_db
from zeuge_lite.views import storage

bp = Blueprint("plain", __name__, url_prefix="/batches")


@bp.route("/<int:batch_id>/similarity/plain")
@login_required
def listing(batch_id, message=None):
    """The batch's blank or plain pages with thumbnails, all ticked for the trash."""
    batch = batch_or_404(batch_id)
    return render_template("similarity/_plain.html", batch=batch, items=queries.plain_items(get_db(), batch_id),
                           writable=can_write(batch), message=message)


@bp.route("/<int:batch_id>/similarity/plain/trash", methods=("POST",))
@login_required
def trash_plain(batch_id):
    """Move the ticked blank or plain pages to the trash (or delete them when TRASH_DAYS is 0), in one step."""
    batch = batch_or_404(batch_id, write=True)
    chosen = set(request.form.getlist("item", type=int))
    items = [item for item in queries.plain_items(get_db(), batch_id) if item["id"] in chosen]
    if not items:
        return listing(batch_id, "Tick at least one page to move it to the trash.")
    removal = trash.remove_items(get_db(), storage(), batch["archive_id"], items, current_user.id,
                                 current_app.config["TRASH_DAYS"], " as a blank or plain page")
    return listing(batch_id, removal.message([item["filename"] for item in items]))
