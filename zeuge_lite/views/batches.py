"""A batch's stepper tabs (Upload, Items, Metadata, Export), uploads, ordering, rename and delete."""
from urllib.parse import urlsplit

from flask import (Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request,
                   stream_with_context, url_for)
from flask_login import current_user, login_required

from zeuge_lite.auth import safe_next
from zeuge_lite import catalogue, exporting, queries, security, trash
from zeuge_lite import queries_similarity as qs
from zeuge_lite.access import batch_or_404, can_write
from zeuge_lite.db import get_db
from zeuge_lite.plans import plan_allows_similarity
from zeuge_lite.similarity.decode import FORMAT_NAMES
from zeuge_lite.filenames import clean_filename
from zeuge_lite.metadata import embedded
from zeuge_lite.ingest import (DISK_FULL_MESSAGE, DiskFull, ingest_upload, is_disk_full, is_sidecar,
                               limits_from_config)
from zeuge_lite.views import plural, storage
from zeuge_lite.views.errors import wants_json

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
    return render_tab("batches/upload.html", batch, active="upload", formats=FORMAT_NAMES, precheck=precheck)


@bp.route("/<int:batch_id>/fill-from-file", methods=("POST",))
@login_required
def fill_from_file(batch_id):
    """The batch setting: fill empty archival fields of new uploads from the files' embedded metadata."""
    batch_or_404(batch_id, write=True)
    on = request.form.get("fill_from_file") == "1"
    queries.set_fill_from_file(get_db(), batch_id, on)
    flash("New uploads fill empty archival fields from the files' metadata." if on else
          "New uploads leave the archival fields empty.")
    return redirect(url_for("batches.upload", batch_id=batch_id))


@bp.route("/<int:batch_id>/upload", methods=("POST",))
@login_required
def upload_files(batch_id):
    """Take one or more files; each is added, reported as a duplicate or refused with a reason."""
    batch_or_404(batch_id, write=True)
    results, disk_full = _ingest_all(batch_id)
    if not results:
        results = [{"filename": "", "status": "refused", "message": "No file was sent.", "item_id": None}]
    status = 507 if disk_full else 200  # 507 Insufficient Storage: the uploader shows the message per file
    if wants_json():
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
    files = sorted(files, key=lambda f: is_sidecar(f.filename or ""))  # sidecars after their photos
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


def page_window(total, page_size, page=None):
    """Which page to show (from ?page=, clamped) and what the pager needs: number, pages, offset, total."""
    pages = max(1, -(-total // page_size))
    number = min(max(1, page if page is not None else request.args.get("page", 1, type=int)), pages)
    return {"number": number, "pages": pages, "offset": (number - 1) * page_size, "size": page_size,
            "total": total}


@bp.route("/<int:batch_id>/items")
@login_required
def items(batch_id):
    """The Items tab: a page of items in batch order (drag and drop, keyboard, move to a position), or by
    uniqueness within a range."""
    batch = batch_or_404(batch_id)
    if plan_allows_similarity(batch["plan"]) and _uniqueness_asked():
        return render_tab("batches/items.html", batch, active="items", **_uniqueness_view(batch_id))
    context = _grid_context(batch_id)
    if plan_allows_similarity(batch["plan"]):
        context["histogram"] = _histogram(batch_id)
    return render_tab("batches/items.html", batch, active="items", **context)


def _uniqueness_asked():
    return request.args.get("sort") == "uniqueness" or "min" in request.args or "max" in request.args


def _histogram(batch_id):
    """The uniqueness histogram of the batch's scored items, or None when none is scored yet."""
    counts = qs.uniqueness_counts(get_db(), batch_id, current_app.config["MODEL"], UNIQUENESS_BINS)
    if not any(counts):
        return None
    return [(n / UNIQUENESS_BINS, (n + 1) / UNIQUENESS_BINS, count) for n, count in enumerate(counts)]


UNIQUENESS_BINS = 10


def _uniqueness_view(batch_id):
    """A page of the batch's scored items within a uniqueness range, least unique first when asked."""
    conn, model = get_db(), current_app.config["MODEL"]
    low = request.args.get("min", 0.0, type=float)
    high = request.args.get("max", 1.0, type=float)
    by_uniqueness = request.args.get("sort") == "uniqueness"
    pager = page_window(qs.count_scored_in_range(conn, batch_id, model, low, high),
                        current_app.config["GRID_PAGE_SIZE"])
    return {"items": qs.scored_items_in_range(conn, batch_id, model, low, high, by_uniqueness,
                                              pager["offset"], pager["size"]),
            "histogram": _histogram(batch_id), "low": low, "high": high, "by_uniqueness": by_uniqueness,
            "filtered": True, "pager": pager}


def _grid_context(batch_id, error=None, page=None):
    conn = get_db()
    pager = page_window(queries.count_items(conn, batch_id), current_app.config["GRID_PAGE_SIZE"], page)
    return {"items": queries.items_page(conn, batch_id, pager["offset"], pager["size"]), "pager": pager,
            "order_version": queries.batch_order_version(conn, batch_id), "order_error": error}


def _grid_response(batch, error=None, position=None, status=None):
    """The grid fragment after a change: the page holding `position` (a moved item), else the page asked.
    An error is shown above the grid (409 for a stale page unless another status is given)."""
    status = status or (409 if error else 200)
    page = None if position is None else (position - 1) // current_app.config["GRID_PAGE_SIZE"] + 1
    if page is None:
        page = request.values.get("page", 1, type=int)
    return render_template("batches/_grid.html", batch=batch, writable=can_write(batch),
                           **_grid_context(batch["id"], error, page)), status


STALE_ORDER_MESSAGE = ("The order was changed in another window or tab since this page was loaded. "
                       "Here is the current order; please make your change again.")


@bp.route("/<int:batch_id>/order", methods=("POST",))
@login_required
def save_order(batch_id):
    """Save the order of the items the grid shows (with the order version and page offset it was based on)."""
    batch = batch_or_404(batch_id, write=True)
    try:
        ids = [int(v) for v in request.form.getlist("item")]
        catalogue.apply_order(get_db(), batch, ids, int(request.form.get("order_version", -1)), current_user.id,
                              int(request.form.get("offset", 0)))
    except (ValueError, catalogue.StaleOrder):
        return _grid_response(batch, STALE_ORDER_MESSAGE)
    return _grid_response(batch)


@bp.route("/<int:batch_id>/items/<int:item_id>/move", methods=("POST",))
@login_required
def move(batch_id, item_id):
    """Move one item earlier or later, or to a position (the keyboard-operable alternatives to dragging, and
    how a tile dropped on a page edge reaches the neighbouring page). The grid then shows the item's page."""
    batch = batch_or_404(batch_id, write=True)
    form = request.form
    step = -1 if form.get("direction") == "earlier" else 1
    # An arrow button posts the whole grid form, every tile's position field with it: its direction decides.
    position = None if "direction" in form else form.get(f"position-{item_id}", "").strip() or None
    if position is not None and not position.isdigit():
        return _grid_response(batch, "Type the new position as a whole number, 1 or more.", status=422)
    try:
        new_position = catalogue.move_item(get_db(), batch, item_id, int(form.get("order_version", -1)),
                                           current_user.id, step=step, position=position and int(position))
    except (ValueError, catalogue.StaleOrder):
        return _grid_response(batch, STALE_ORDER_MESSAGE)
    return _grid_response(batch, position=new_position)


@bp.route("/<int:batch_id>/metadata")
@login_required
def metadata(batch_id):
    """The Metadata tab: every item's archival fields, editable in place."""
    batch = batch_or_404(batch_id)
    conn = get_db()
    pager = page_window(queries.count_items(conn, batch_id), current_app.config["TABLE_PAGE_SIZE"])
    items = [_with_embedded(item) for item in queries.items_page(conn, batch_id, pager["offset"], pager["size"])]
    return render_tab("batches/metadata.html", batch, active="metadata", pager=pager, items=items,
                      fields=queries.ITEM_FIELDS)


def _with_embedded(item):
    """An item with what its file says: archival-field values (from_file) and the technical ones (in_file)."""
    fields = embedded.of_item(item)[0]
    item["from_file"] = embedded.archival_values(fields)
    item["in_file"] = [(embedded.FIELDS[name], embedded.display(fields[name])) for name in
                       ("taken_at", "camera", "lens", "software", "dpi", "gps", "rating") if name in fields]
    return item


@bp.route("/<int:batch_id>/export")
@login_required
def export(batch_id):
    """The Export tab."""
    batch = batch_or_404(batch_id)
    return render_tab("batches/export.html", batch, active="export",
                      item_count=queries.count_items(get_db(), batch_id))


@bp.route("/<int:batch_id>/export.zip")
@login_required
def export_zip(batch_id):
    """Download the originals in batch order with a CSV and JSON manifest."""
    batch = batch_or_404(batch_id)
    conn, files = get_db(), storage()
    missing = exporting.missing_originals(queries.iter_originals_of_batch(conn, batch_id), files)
    if missing:
        abort(409, f"{plural(len(missing), 'original')} of this batch cannot be read (first: “{missing[0]}”), so "
                   "no ZIP was made. The server's administrator can run `flask zeuge check`.")
    chunks = exporting.stream_batch_zip(batch, lambda: queries.iter_items_of_batch(conn, batch_id), files)
    response = Response(stream_with_context(chunks), mimetype="application/zip")
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
    """Confirm, then delete a batch; its items go to the archive's trash (restoring one makes the batch again
    under its name), or are deleted permanently when TRASH_DAYS is 0."""
    batch = batch_or_404(batch_id, write=True)
    conn = get_db()
    items = queries.items_of_batch(conn, batch_id)
    days = current_app.config["TRASH_DAYS"]
    if request.method != "POST":  # GET and HEAD only look
        return render_tab("batches/delete.html", batch, active=None, item_count=len(items), trash_days=days)
    trash.remove_batch(conn, storage(), batch, current_user.id, days)
    kept = f"moved to the trash, restorable for {days} days" if days else "deleted permanently"
    flash(f"Batch “{batch['name']}” deleted; its {len(items)} items were {kept}.")
    return redirect(url_for("archives.show", archive_id=batch["archive_id"]))
