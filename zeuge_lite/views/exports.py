"""A batch's groups as downloads: duplicates.json, .csv and the HTML report, built by the same module
(zeuge_lite.report) as `flask zeuge scan`'s. Plan-checked on the server like every similarity endpoint."""
from flask import Blueprint, Response, current_app, jsonify, request
from flask_login import login_required

from zeuge_lite import queries, report, review, security
from zeuge_lite import queries_similarity as qs
from zeuge_lite.db import get_db
from zeuge_lite.views import similarity_batch, storage, thresholds_from
from zeuge_lite.views.similarity import batch_cards

bp = Blueprint("exports", __name__, url_prefix="/batches")


@bp.route("/<int:batch_id>/similarity/export.<any(json, html, csv):fmt>")
@login_required
def export(batch_id, fmt):
    """The current groups as duplicates.json (the scan's shape), duplicates.csv or a self-contained
    duplicates.html, built by the same module as `flask zeuge scan`'s."""
    batch = similarity_batch(batch_id)
    findings = batch_report(batch, thresholds_from(request.args), with_thumbnails=fmt == "html")
    if fmt == "json":
        response = jsonify(report.to_json(findings))
    elif fmt == "csv":
        response = Response(report.to_csv(findings), mimetype="text/csv")
    else:  # self-contained (inline styles, data: thumbnails): saved and opened from disk, never shown under our CSP
        response = Response(report.to_html(findings), mimetype="text/html")
    response.headers["Content-Disposition"] = security.attachment(f"duplicates.{fmt}")  # what the link says
    return response


def batch_report(batch, thresholds, with_thumbnails):
    """The batch's groups, keepers, uniqueness and unreadable files as a report.Report."""
    conn, model = get_db(), current_app.config["MODEL"]
    scores = qs.batch_scores(conn, batch["id"], model)
    groups, thumbnails = [], [report.MAX_THUMBNAILS if with_thumbnails else 0]  # read no more than are shown
    for card in batch_cards(batch, thresholds):
        keep_id, _reasons = review.keeper(review.with_sharpness(storage(), card["members"]))
        groups.append(report.ReportGroup(card["group"].tier, card["group"].score, card["group"].signal, [
            report.ReportItem(m["filename"], m["width"], m["height"], scores.get(m["id"]), m.get("frames") or 1,
                              _thumbnail(m, thumbnails), m["id"], m["position_number"], m["id"] == keep_id)
            for m in card["members"]]))
    errors = [{"path": e["filename"], "error": e["error"]} for e in qs.batch_feature_errors(conn, batch["id"], model)]
    return report.Report(f"Duplicates and similar photos in “{batch['name']}”", model, thresholds,
                         queries.count_items(conn, batch["id"]), groups, errors)


def _thumbnail(member, budget):
    path = storage().derived_path("thumb", member["sha256"])
    if budget[0] <= 0 or not path.exists():
        return None
    budget[0] -= 1
    return path.read_bytes()
