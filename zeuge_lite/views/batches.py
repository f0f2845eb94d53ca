"""A batch's stepper tabs (Upload, Items, Metadata, Export), uploads, ordering, rename and delete."""
from urllib.parse import urlsplit

from flask import (Blueprint, current_app, flash, jsonify, redirect, render_template, request,
                   send_file, url_for)
from flask_login import current_user, login_required

from zeuge_lite.auth import safe_next
from zeuge_lite import catalogue, exporting, queries, security
from zeuge_lite import queries_similarity as qs
from zeuge_lite.access import batch_or_404, can_write
from zeuge_lite.db import get_db
from zeuge_lite.plans import plan_allows_similarity
from zeuge_lite.similarity.decode import HEIF_SUPPORTED
from zeuge_lite.filenames import clean_filename
from zeuge_lite.ingest import DISK_FULL_MESSAGE, DiskFull, ingest_upload, is_disk_full, limits_from_config
from zeuge_lite.views import storage

bp = Blueprint("batches", __name__, url_prefix="/batches")
STEPS = (("upload", "Upload"), ("items", "Items"), ("similarity", "Similarity"), ("metadata", "Metadata"),
         ("export", "Export"))


def render_tab(template, batch, **context):
    """Render a stepper tab of the batch page."""
    return render_template(template, batch=batch, steps=STEPS, writable=can_write(batch), **context)


@bp.route("/<int:batch_id>")
@login_required
def show(batch_id):
    """A batch opens on its Items tab."""
    batch_or_404(batch_id)
    return redirect(url_for("batches.items", batch_id=batch_id))


@bp.route("/<int:batch_id>/upload")
@login_required
def upload(batch_id):
    """The Upload tab: file picker and drop zone with per-file progress."""
    batch = batch_or_404(batch_id)
    precheck = plan_allows_similarity(batch["plan"]) and qs.archive_has_analysed_items(
        get_db(), batch["archive_id"], current_app.config["MODEL"])
    return render_tab("batches/upload.html", batch, active="upload", heif=HEIF_SUPPORTED, precheck=precheck)


@bp.route("/<int:batch_id>/upload", methods=("POST",))
@login_required
def upload_files(batch_id):
    """Take one or more files; each is added, reported as a duplicate or refused with a reason."""
    batch_or_404(batch_id, write=True)
    results, disk_full = _ingest_all(batch_id)
    if not results:
        results = [{"filename": "", "status": "refused", "message": "No file was sent.", "item_id": None}]
    status = 507 if disk_full else 200  # 507 Insufficient Storage: the uploader shows the message per file
    if request.accept_mimetypes.best == "application/json":
        return jsonify(results=results), status
    for result in results:
        flash(f"{result['filename']}: {result['message']}", "error" if result["status"] == "refused" else "info")
    if disk_full:
        return upload(batch_id), status
    return redirect(url_for("batches.upload", batch_id=batch_id))


def _ingest_all(batch_id):
    """(results, disk full?): each file in turn; once the disk is full the rest are not tried."""
    try:
        files = request.files.getlist("files")  # werkzeug spools large files to a temporary file
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        return [_disk_full_result("", DISK_FULL_MESSAGE)], True
    results = []
    for file_storage in files:
        try:
            results.append(_ingest(batch_id, file_storage))
        except DiskFull as exc:
            results.append(_disk_full_result(file_storage.filename, str(exc)))
            results += [_disk_full_result(f.filename, "Not tried: the server's disk is full.")
                        for f in files[len(results):]]
            return results, True
    return results, False


def _disk_full_result(filename, message):
    return {"filename": clean_filename(filename), "status": "refused", "message": message, "item_id": None}


def _ingest(batch_id, file_storage):
    limits = limits_from_config(current_app.config)
    data = file_storage.read(limits.max_file_bytes + 1)
    return ingest_upload(get_db(), storage(), limits, batch_id, current_user.id, file_storage.filename,
                         data).as_dict()


@bp.route("/<int:batch_id>/items")
@login_required
def items(batch_id):
    """The Items tab: items in batch order (drag and drop, keyboard), or by uniqueness within a range."""
    batch = batch_or_404(batch_id)
    context = _grid_context(batch_id)
    if plan_allows_similarity(batch["plan"]):
        context.update(_uniqueness_view(batch_id, context))
    return render_tab("batches/items.html", batch, active="items", **context)


def _uniqueness_view(batch_id, context):
    """Uniqueness scores, the histogram, and the grid filtered/sorted by uniqueness when asked."""
    scores = qs.batch_scores(get_db(), batch_id, current_app.config["MODEL"])
    low = request.args.get("min", 0.0, type=float)
    high = request.args.get("max", 1.0, type=float)
    view = {"scores": scores, "histogram": uniqueness_histogram(list(scores.values())),
            "low": low, "high": high, "by_uniqueness": request.args.get("sort") == "uniqueness"}
    if view["by_uniqueness"] or (low, high) != (0.0, 1.0):
        chosen = [i for i in context["items"] if i["id"] in scores and low <= scores[i["id"]] <= high]
        if view["by_uniqueness"]:
            chosen.sort(key=lambda i: scores[i["id"]])
        view.update(items=chosen, filtered=True)
    return view


def uniqueness_histogram(values, bins=10):
    """Counts of uniqueness values in equal bins over 0..1, as (low, high, count) tuples."""
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, int(value * bins))] += 1
    return [(n / bins, (n + 1) / bins, count) for n, count in enumerate(counts)]


def _grid_context(batch_id, error=None):
    conn = get_db()
    return {"items": queries.items_of_batch(conn, batch_id),
            "order_version": queries.batch_order_version(conn, batch_id), "order_error": error}


def _grid_response(batch, error=None):
    status = 409 if error else 200
    return render_template("batches/_grid.html", batch=batch, writable=can_write(batch),
                           **_grid_context(batch["id"], error)), status


STALE_ORDER_MESSAGE = ("The order was changed in another window or tab since this page was loaded. "
                       "Here is the current order; please make your change again.")


@bp.route("/<int:batch_id>/order", methods=("POST",))
@login_required
def save_order(batch_id):
    """Save the full order sent by the grid (with the order version it was based on)."""
    batch = batch_or_404(batch_id, write=True)
    try:
        ids = [int(v) for v in request.form.getlist("item")]
        catalogue.apply_order(get_db(), batch_id, ids, int(request.form.get("order_version", -1)))
    except (ValueError, catalogue.StaleOrder):
        return _grid_response(batch, STALE_ORDER_MESSAGE)
    return _grid_response(batch)


@bp.route("/<int:batch_id>/items/<int:item_id>/move", methods=("POST",))
@login_required
def move(batch_id, item_id):
    """Move one item earlier or later (the keyboard-operable alternative to dragging)."""
    batch = batch_or_404(batch_id, write=True)
    step = -1 if request.form.get("direction") == "earlier" else 1
    try:
        catalogue.move_item(get_db(), batch_id, item_id, step, int(request.form.get("order_version", -1)))
    except (ValueError, catalogue.StaleOrder):
        return _grid_response(batch, STALE_ORDER_MESSAGE)
    return _grid_response(batch)


@bp.route("/<int:batch_id>/metadata")
@login_required
def metadata(batch_id):
    """The Metadata tab: every item's archival fields, editable in place."""
    batch = batch_or_404(batch_id)
    return render_tab("batches/metadata.html", batch, active="metadata",
                      items=queries.items_of_batch(get_db(), batch_id), fields=queries.ITEM_FIELDS)


@bp.route("/<int:batch_id>/export")
@login_required
def export(batch_id):
    """The Export tab."""
    batch = batch_or_404(batch_id)
    return render_tab("batches/export.html", batch, active="export",
                      item_count=len(queries.item_ids_in_order(get_db(), batch_id)))


@bp.route("/<int:batch_id>/export.zip")
@login_required
def export_zip(batch_id):
    """Download the originals in batch order with a CSV and JSON manifest."""
    batch = batch_or_404(batch_id)
    archive = exporting.batch_zip(batch, queries.items_of_batch(get_db(), batch_id), storage())
    response = send_file(archive, mimetype="application/zip")
    response.headers["Content-Disposition"] = security.attachment(exporting.zip_name(batch))
    return response


@bp.route("/<int:batch_id>/rename", methods=("POST",))
@login_required
def rename(batch_id):
    """Rename a batch."""
    batch_or_404(batch_id, write=True)
    name = request.form.get("name", "").strip()
    if name:
        queries.rename_batch(get_db(), batch_id, name[:200])
        flash("Batch renamed.")
    else:
        flash("A batch needs a name.", "error")
    back = urlsplit(request.referrer or "")
    same_site = back.netloc == request.host and back.scheme in ("http", "https")
    return redirect(safe_next(back.path) if same_site else url_for("batches.items", batch_id=batch_id))


@bp.route("/<int:batch_id>/delete", methods=("GET", "POST"))
@login_required
def delete(batch_id):
    """Confirm, then delete a batch with all its items, metadata, responses and unused files."""
    batch = batch_or_404(batch_id, write=True)
    conn = get_db()
    items = queries.items_of_batch(conn, batch_id)
    if request.method != "POST":  # GET and HEAD only look
        return render_tab("batches/delete.html", batch, active=None, item_count=len(items))
    catalogue.delete_items(conn, storage(), items)
    queries.delete_batch(conn, batch_id)
    flash(f"Batch “{batch['name']}” and its {len(items)} items were deleted.")
    return redirect(url_for("archives.show", archive_id=batch["archive_id"]))
