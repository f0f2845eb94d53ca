"""Acting on a similarity group: expand, delete, place together, not duplicates, metadata compare, exports,
the audit log. Every endpoint checks the plan on the server; changes need a writer's role."""
import base64

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from zeuge_lite import analysis, queries, report, review, security
from zeuge_lite import audit as audit_log
from zeuge_lite import queries_review as qr
from zeuge_lite import queries_similarity as qs
from zeuge_lite.access import archive_or_404, can_write, item_or_404
from zeuge_lite.plans import require_similarity
from zeuge_lite.similarity.decode import ImageRejected
from zeuge_lite.similarity.embedding import ModelUnavailable
from zeuge_lite.similarity.grouping import RELATED_COSINE, Thresholds
from zeuge_lite.db import get_db
from zeuge_lite.views import storage, view_state
from zeuge_lite.views.batches import render_tab
from zeuge_lite.views.similarity import (TIER_LABELS, _batch, _thresholds_from, batch_cards, batch_resolutions,
                                         start_run)

bp = Blueprint("review", __name__, url_prefix="/batches")


def _members(batch, text):
    """The batch's members named in a group key; a 409 card if some are gone (a stale page, a double click)."""
    try:
        ids = review.parse_key(text or "")
    except ValueError:
        abort(404)
    members = review.group_members(get_db(), batch["id"], ids)
    if len(members) != len(ids):
        abort(Response(render_template("similarity/_stale.html", batch=batch), 409))
    return members


def card_context(batch, members, message=None):
    """Everything the expanded card shows for these members."""
    members = review.with_sharpness(storage(), members)
    keep_id, reasons = review.keeper(members) if len(members) > 1 else (None, [])
    conn = get_db()
    summary = analysis.describe_members(conn, current_app.config["MODEL"], [m["id"] for m in members],
                                        _thresholds_from(request.args), qr.dismissed_pairs(conn, batch["archive_id"]))
    return {"batch": batch, "members": members, "key": review.group_key(m["id"] for m in members),
            "keep_id": keep_id, "reasons": reasons, "writable": can_write(batch), "message": message,
            "summary": summary, "tier_label": TIER_LABELS.get(summary.tier) if summary else None,
            "series": summary is not None and summary.tier == "similar"}  # similar is not a copy: nothing ticked


@bp.route("/<int:batch_id>/similarity/group/<key>")
@login_required
def group(batch_id, key):
    """The expanded card of a group: larger previews, technical data, keep-best, actions."""
    batch = _batch(batch_id)
    return render_template("similarity/_group_detail.html", **card_context(batch, _members(batch, key)))


@bp.route("/<int:batch_id>/similarity/group/<key>/delete", methods=("GET", "POST"))
@login_required
def delete(batch_id, key):
    """GET: a confirmation naming what will go. POST: move the chosen members to the trash."""
    batch = _batch(batch_id, write=True)
    members = _members(batch, key)
    chosen = _chosen(members)
    days = current_app.config["TRASH_DAYS"]
    if request.method != "POST":  # GET and HEAD only look
        return render_template("similarity/_delete_confirm.html", batch=batch, key=key, chosen=chosen,
                               remaining=[m for m in members if m not in chosen], trash_days=days)
    removal = review.delete_members(get_db(), storage(), batch, chosen, current_user.id, members, days)
    remaining = [m for m in members if m not in chosen]
    return render_template("similarity/_group_detail.html", **card_context(
        batch, remaining, removal.message([m["filename"] for m in chosen])))


def _chosen(members):
    """Members picked in the form ('item' values), or all but the suggested keeper with keep=suggested."""
    values = request.values
    if values.get("keep") == "suggested":
        keep_id, _reasons = review.keeper(review.with_sharpness(storage(), members))
        return [m for m in members if m["id"] != keep_id]
    try:
        picked = {int(v) for v in values.getlist("item")}
    except ValueError:
        abort(400)
    chosen = [m for m in members if m["id"] in picked]
    if not chosen or len(chosen) == len(members) and values.get("confirm_all") != "yes":
        abort(422, "Choose the copies to delete; at least one copy of a group stays unless you confirm all.")
    return chosen


@bp.route("/<int:batch_id>/similarity/resolve/<any(exact, near):tier>", methods=("GET", "POST"))
@login_required
def resolve_all(batch_id, tier):
    """GET: the counts and the list of what 'resolve all' of a tier would do. POST: keep each group's suggested
    keeper and move the rest to the trash, one audit entry per group."""
    batch = _batch(batch_id, write=True)
    thresholds = _thresholds_from(request.args)
    plans = batch_resolutions(batch, thresholds, (tier,))
    days = current_app.config["TRASH_DAYS"]
    if request.method != "POST":  # GET and HEAD only look
        return render_tab("similarity/resolve.html", batch, active="similarity", plans=plans, tier=tier,
                          label=TIER_LABELS[tier], trash_days=days, args=view_state())
    count = review.resolve(get_db(), storage(), batch, plans, current_user.id, days)
    kept = f"moved to the trash, restorable for {days} days" if days else "deleted permanently"
    flash(f"Resolved {len(plans)} {TIER_LABELS[tier]} group{'' if len(plans) == 1 else 's'}: kept each suggested "
          f"keeper; {count} photo{'' if count == 1 else 's'} {kept}.")
    return redirect(url_for("similarity.tab", batch_id=batch_id, **view_state()))


@bp.route("/<int:batch_id>/similarity/group/<key>/place-together", methods=("POST",))
@login_required
def place_together(batch_id, key):
    """Move the group's members next to each other in the batch order."""
    batch = _batch(batch_id, write=True)
    members = _members(batch, key)
    first, last = review.place_together(get_db(), batch, members, current_user.id)
    members = review.group_members(get_db(), batch_id, [m["id"] for m in members])
    return render_template("similarity/_group_detail.html", **card_context(
        batch, members, f"Placed together at positions {first}–{last} of the batch."))


@bp.route("/<int:batch_id>/similarity/group/<key>/dismiss", methods=("POST",))
@login_required
def dismiss(batch_id, key):
    """Not duplicates: the whole group, or one member (form field 'member') against the rest."""
    batch = _batch(batch_id, write=True)
    members = _members(batch, key)
    member = request.form.get("member", type=int)
    if member is not None and member not in {m["id"] for m in members}:
        abort(404)
    review.dismiss(get_db(), batch, members, current_user.id, member)
    if member is None:
        return render_template("similarity/_dismissed.html", batch=batch, members=members)
    rest = [m for m in members if m["id"] != member]
    return render_template("similarity/_group_detail.html", **card_context(
        batch, rest, "Marked as not a duplicate; it stays out of this group in later runs."))


@bp.route("/<int:batch_id>/similarity/dismissals")
@login_required
def dismissals(batch_id):
    """Every "not duplicates" decision that concerns this batch, with undo."""
    batch = _batch(batch_id)
    return render_template("similarity/_dismissals.html", batch=batch, writable=can_write(batch),
                           rows=qr.dismissals_in_batch(get_db(), batch["archive_id"], batch_id))


@bp.route("/<int:batch_id>/similarity/dismissals/undo", methods=("POST",))
@login_required
def undo_dismissal(batch_id):
    """Forget one "not duplicates" decision."""
    batch = _batch(batch_id, write=True)
    conn = get_db()
    review.undo_dismissal(conn, batch, request.form.get("sha_a", ""), request.form.get("sha_b", ""), current_user.id)
    return dismissals(batch_id)


@bp.route("/<int:batch_id>/similarity/group/<key>/compare")
@login_required
def compare(batch_id, key):
    """Archival and EXIF fields of the members side by side, differences marked."""
    batch = _batch(batch_id)
    context = card_context(batch, _members(batch, key))
    return render_template("similarity/_compare.html", rows=review.compare_rows(context["members"]),
                           copyable=review.COPYABLE, **context)


@bp.route("/<int:batch_id>/similarity/group/<key>/copy", methods=("POST",))
@login_required
def copy_value(batch_id, key):
    """Copy one field's value from a member to another (usually the keeper)."""
    batch = _batch(batch_id, write=True)
    members = _members(batch, key)
    form = request.form
    try:
        review.copy_field(get_db(), batch, members, form.get("field", ""), form.get("source", type=int),
                          form.get("target", type=int), current_user.id, form.get("mode"))
    except review.NeedsChoice as existing:
        return render_template("similarity/_copy_choice.html", batch=batch, key=key, field=form["field"],
                               source=form["source"], target=form["target"], existing=str(existing),
                               value=existing.value)
    except (ValueError, StopIteration):
        abort(422, "That value cannot be copied.")
    return compare(batch_id, key)


@bp.route("/<int:batch_id>/similarity/export.<any(json, html, csv):fmt>")
@login_required
def export(batch_id, fmt):
    """The current groups as duplicates.json (the scan's shape), duplicates.csv or a self-contained
    duplicates.html, built by the same module as `flask zeuge scan`'s."""
    batch = _batch(batch_id)
    findings = _report(batch, _thresholds_from(request.args), with_thumbnails=fmt == "html")
    if fmt == "json":
        response = jsonify(report.to_json(findings))
    elif fmt == "csv":
        response = Response(report.to_csv(findings), mimetype="text/csv")
    else:  # self-contained (inline styles, data: thumbnails): saved and opened from disk, never shown under our CSP
        response = Response(report.to_html(findings), mimetype="text/html")
    response.headers["Content-Disposition"] = security.attachment(f"duplicates.{fmt}")  # what the link says
    return response


def _report(batch, thresholds, with_thumbnails):
    """The batch's groups, keepers, uniqueness and unreadable files as a report.Report."""
    conn, model = get_db(), current_app.config["MODEL"]
    scores = qs.batch_scores(conn, batch["id"], model)
    groups = []
    for card in batch_cards(batch, thresholds):
        keep_id, _reasons = review.keeper(review.with_sharpness(storage(), card["members"]))
        groups.append(report.ReportGroup(card["group"].tier, card["group"].score, card["group"].signal, [
            report.ReportItem(m["filename"], m["width"], m["height"], scores.get(m["id"]), m.get("frames") or 1,
                              _thumbnail(m) if with_thumbnails else None, m["id"], m["position_number"],
                              m["id"] == keep_id) for m in card["members"]]))
    errors = [{"path": e["filename"], "error": e["error"]} for e in qs.batch_feature_errors(conn, batch["id"], model)]
    return report.Report(f"Duplicates and similar photos in “{batch['name']}”", model, thresholds,
                         queries.count_items(conn, batch["id"]), groups, errors)


def _thumbnail(member):
    path = storage().derived_path("thumb", member["sha256"])
    return path.read_bytes() if path.exists() else None


audit_bp = Blueprint("audit", __name__)


@audit_bp.route("/archives/<int:archive_id>/audit")
@login_required
def audit(archive_id):
    """Who deleted, reordered, dismissed or consolidated what, newest first (owners only)."""
    archive = archive_or_404(archive_id)
    if archive["role"] != "owner":
        abort(403, "Only the archive's owners can read its audit log.")
    return render_template("archives/audit.html", archive=archive, undoable=audit_log.undoable,
                           entries=qr.audit_entries(get_db(), archive_id))


@audit_bp.route("/archives/<int:archive_id>/audit/<int:entry_id>/undo", methods=("POST",))
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


items_bp = Blueprint("similar", __name__, url_prefix="/items")


@items_bp.route("/<int:item_id>/similar")
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


@bp.route("/<int:batch_id>/find", methods=("GET", "POST"))
@login_required
def find_photo(batch_id):
    """Search the batch (or archive) for an outside photo; nothing about the photo is stored."""
    batch = _batch(batch_id)
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


@bp.route("/<int:batch_id>/precheck", methods=("GET", "POST"))
@login_required
def precheck(batch_id):
    """Pre-accession check of new uploads: compute their features (a run), then flag the ones the archive
    already holds, in this batch or another."""
    batch = _batch(batch_id, write=request.method == "POST")
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
                   if score >= near and tuple(sorted((item["sha256"], _sha(conn, row["id"])))) not in dismissed]
        flags.append({"item": item, "matches": matches})
    return flags


def _sha(conn, item_id):
    return conn.execute("SELECT sha256 FROM items WHERE id = ?", (item_id,)).fetchone()[0]


@bp.route("/<int:batch_id>/precheck/not-duplicate", methods=("POST",))
@login_required
def precheck_not_duplicate(batch_id):
    """Mark a new item as not a duplicate of one the archive holds (remembered), then show the check again."""
    batch = _batch(batch_id, write=True)
    conn = get_db()
    new = review.group_members(conn, batch_id, [request.form.get("item", type=int)])
    other = queries.item_for_member(conn, request.form.get("other", type=int), current_user.id)
    if not new or other is None or other["archive_id"] != batch["archive_id"]:
        abort(404)
    review.not_a_duplicate_of(conn, batch, new[0], other, current_user.id)
    return _precheck_response(batch, start=False)
