"""One item: page, archival metadata, responses, files, delete (to the trash)."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required

from zeuge_lite import catalogue, queries, security, trash
from zeuge_lite.access import can_write, item_or_404
from zeuge_lite.db import get_db
from zeuge_lite.filenames import clean_filename
from zeuge_lite.metadata import embedded
from zeuge_lite.plans import plan_allows_similarity
from zeuge_lite.views import storage

bp = Blueprint("items", __name__, url_prefix="/items")
FIELD_LABELS = {"title": "Title", "date": "Date", "description": "Description", "creator": "Creator",
                "contributor": "Contributor", "rights": "Rights", "subject": "Subject / keywords",
                "accession_number": "Accession number"}
MAX_FIELD_LENGTH = 10_000
ORIENTATION_NAMES = {1: "upright", 2: "mirrored", 3: "turned 180°", 4: "mirrored upside down",
                     5: "mirrored, turned 90° clockwise", 6: "turned 90° clockwise",
                     7: "mirrored, turned 90° counter-clockwise", 8: "turned 90° counter-clockwise"}


@bp.route("/<int:item_id>")
@login_required
def show(item_id):
    """Large preview, technical data, archival metadata form and responses."""
    item = item_or_404(item_id)
    return render_template("items/page.html", item=item, writable=can_write(item), labels=FIELD_LABELS,
                           responses=queries.responses_of_item(get_db(), item_id),
                           embedded_rows=embedded.rows(dict(item)), orientation_names=ORIENTATION_NAMES,
                           filled=embedded.filled_fields(dict(item)),
                           similarity_allowed=plan_allows_similarity(item["plan"]))


@bp.route("/<int:item_id>/metadata", methods=("POST",))
@login_required
def save_metadata(item_id):
    """Save archival metadata fields (all of the form's, or one from an inline edit)."""
    item = item_or_404(item_id, write=True)
    fields = {name: request.form[name].strip()[:MAX_FIELD_LENGTH] for name in FIELD_LABELS if name in request.form}
    catalogue.edit_fields(get_db(), item, fields, current_user.id)
    if request.headers.get("HX-Request"):
        return render_template("items/_saved.html", fields=fields, labels=FIELD_LABELS)
    flash("Metadata saved.")
    return redirect(url_for("items.show", item_id=item_id))


@bp.route("/<int:item_id>/responses", methods=("POST",))
@login_required
def add_response(item_id):
    """Add a free-text response (a contributor's note) to an item."""
    item_or_404(item_id, write=True)
    body = request.form.get("body", "").strip()
    if body:
        queries.add_response(get_db(), item_id, current_user.id, body[:MAX_FIELD_LENGTH])
    else:
        flash("Write something before adding a response.", "error")
    return redirect(url_for("items.show", item_id=item_id) + "#responses")


@bp.route("/<int:item_id>/delete", methods=("GET", "POST"))
@login_required
def delete(item_id):
    """Confirm, then move an item to the archive's trash (or delete it permanently when TRASH_DAYS is 0)."""
    item = item_or_404(item_id, write=True)
    conn = get_db()
    days = current_app.config["TRASH_DAYS"]
    if request.method != "POST":  # GET and HEAD only look
        return render_template("items/delete.html", item=item, trash_days=days,
                               response_count=len(queries.responses_of_item(conn, item_id)))
    removal = trash.remove_items(conn, storage(), item["archive_id"], [item], current_user.id, days,
                                 " from its item page")
    flash(removal.message([item["filename"]]))
    return redirect(url_for("batches.items", batch_id=item["batch_id"]))


@bp.route("/<int:item_id>/<any(thumb, preview):kind>.jpg")
@login_required
def derived(item_id, kind):
    """The item's thumbnail or preview JPEG."""
    item = item_or_404(item_id)
    return send_stored(storage().derived_path(kind, item["sha256"]), "image/jpeg")


@bp.route("/<int:item_id>/original")
@login_required
def original(item_id):
    """The untouched original, as uploaded: typed by the format its decoder found, always a download."""
    item = item_or_404(item_id)
    name = security.original_name(clean_filename(item["filename"]), item["format"], item["ext"])
    return send_stored(storage().original_path(item["sha256"], item["ext"]),
                       security.mimetype_of_format(item["format"]), security.attachment(name))


def send_stored(path, mimetype, disposition=None):
    """A stored file as a private, cacheable response; 404 if it is missing."""
    if not path.exists():
        abort(404)
    response = send_file(path, mimetype=mimetype, max_age=3600)
    if disposition:
        response.headers["Content-Disposition"] = disposition
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
