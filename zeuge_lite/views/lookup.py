"""Looking photos up: the items similar to one item, an outside photo searched in the batch or archive, and the
pre-accession check of new uploads against what the archive holds. Plan-checked on the server."""
import base64

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user, login_required

from zeuge_lite import analysis, queries, review
from zeuge_lite import queries_review as qr
from zeuge_lite import queries_similarity as qs
from zeuge_lite.access import can_write, item_or_404
from zeuge_lite.db import get_db
from zeuge_lite.plans import require_similarity
from zeuge_lite.similarity.decode import ImageRejected
from zeuge_lite.similarity.embedding import ModelUnavailable
from zeuge_lite.similarity.grouping import RELATED_COSINE, Thresholds
from zeuge_lite.views import similarity_batch, storage
from zeuge_lite.views.batches import render_tab
from zeuge_lite.views.similarity import start_run

bp = Blueprint("similar", __name__)


@bp.route("/items/<int:item_id>/similar")
@login_required
def similar(item_id):
    """Nearest items to this one, in its batch or (scope=archive) across the archive, with scores."""
    item = item_or_404(item_id)
    require_similarity(item)
    scope = "archive" if request.args.get("scope") == "archive" else "batch"
    found = analysis.similar_to_item(get_db(), current_app.config["MODEL"], item_id, k=12,
                                     **_scope_args(item, scope))
    related = [(row, score) for row, score in found if score >= RELATED_COSINE]  # below it: unrelated photos
    return render_template("items/_similar.html", item=item, found=related, scope=scope, floor=RELATED_COSINE,
                           closest=found[0][1] if found else None,
                           analysed=qs.item_views(get_db(), item_id, current_app.config["MODEL"]) is not None)


def _scope_args(row, scope):
    return {"archive_id": row["archive_id"]} if scope == "archive" else {"batch_id": row["batch_id"]}


@bp.route("/batches/<int:batch_id>/find", methods=("GET", "POST"))
@login_required
def find_photo(batch_id):
    """Search the batch (or archive) for an outside photo; nothing about the photo is stored."""
    batch = similarity_batch(batch_id)
    if request.method != "POST":  # GET and HEAD only look
        return render_tab("similarity/find.html", batch, active="similarity", found=None, error=None)
    upload = request.files.get("photo")
    data = upload.read(current_app.config["MAX_FILE_BYTES"] + 1) if upload else b""
    scope = "archive" if request.form.get("scope") == "archive" else "batch"
    try:
        if len(data) > current_app.config["MAX_FILE_BYTES"]:
            raise ImageRejected("The file is larger than the upload limit.")
        found = analysis.similar_to_image(get_db(), current_app.config["MODEL"], data,
                                          current_app.config["MAX_IMAGE_PIXELS"], k=12,
                                          model_dir=current_app.config["MODEL_DIR"],
                                          **_scope_args({"archive_id": batch["archive_id"], "batch_id": batch_id},
                                                        scope))
        verdict = review.find_verdict(storage(), data, current_app.config["MAX_IMAGE_PIXELS"], found)
    except (ImageRejected, ModelUnavailable) as exc:
        return render_tab("similarity/find.html", batch, active="similarity", found=None, error=str(exc)), 422
    return render_tab("similarity/find.html", batch, active="similarity", error=None, verdict=verdict, scope=scope,
                      found=[(row, score) for row, score in found if score >= RELATED_COSINE],
                      searched=base64.b64encode(verdict.thumbnail).decode())


@bp.route("/batches/<int:batch_id>/precheck", methods=("GET", "POST"))
@login_required
def precheck(batch_id):
    """Pre-accession check of new uploads: compute their features (a run), then flag the ones the archive
    already holds, in this batch or another."""
    batch = similarity_batch(batch_id, write=request.method == "POST")
    return _precheck_response(batch, start=request.method == "POST")


def _precheck_response(batch, start):
    """The check's fragment: polling while the new photos are analysed, then the flags."""
    conn, batch_id = get_db(), batch["id"]
    item_ids = _new_item_ids(batch_id)
    run = analysis.run_as_shown(conn, batch_id, current_app.config["RUN_STALE_SECONDS"])
    if start and (run is None or run["status"] not in ("queued", "running")):
        run = start_run(batch_id)
    if run and run["status"] in ("queued", "running"):
        return render_template("similarity/_precheck.html", batch=batch, pending=True, run=run, ids=item_ids)
    return render_template("similarity/_precheck.html", batch=batch, pending=False,
                           flags=_precheck_flags(batch, item_ids), ids=item_ids, writable=can_write(batch))


def _new_item_ids(batch_id):
    try:
        return sorted({int(v) for v in request.values.get("items", "").split(",") if v.strip()})
    except ValueError:
        abort(400)


def _precheck_flags(batch, item_ids):
    """For each new item: the archive's items it duplicates or nearly duplicates (not dismissed)."""
    conn, model = get_db(), current_app.config["MODEL"]
    near = Thresholds().cosine_near
    dismissed = qr.dismissed_pairs(conn, batch["archive_id"])
    flags = []
    for item in review.group_members(conn, batch["id"], item_ids):
        matches = [(row, score) for row, score in analysis.similar_to_item(
                       conn, model, item["id"], k=5, archive_id=batch["archive_id"])
                   if score >= near and tuple(sorted((item["sha256"], row["sha256"]))) not in dismissed]
        flags.append({"item": item, "matches": matches})
    return flags


@bp.route("/batches/<int:batch_id>/precheck/not-duplicate", methods=("POST",))
@login_required
def precheck_not_duplicate(batch_id):
    """Mark a new item as not a duplicate of one the archive holds (remembered), then show the check again."""
    batch = similarity_batch(batch_id, write=True)
    conn = get_db()
    new = review.group_members(conn, batch_id, [request.form.get("item", type=int)])
    other = queries.item_for_member(conn, request.form.get("other", type=int), current_user.id)
    if not new or other is None or other["archive_id"] != batch["archive_id"]:
        abort(404)
    review.not_a_duplicate_of(conn, batch, new[0], other, current_user.id)
    return _precheck_response(batch, start=False)
