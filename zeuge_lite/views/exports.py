"""A batch's groups as downloads: duplicates.json, .csv and the HTML report, built by the same module
(zeuge_lite.report) as `flask zeuge scan`'s. Plan-checked on the server like every similarity endpoint.

Each is streamed: the first bytes go out before the groups are counted, the groups are turned into report
groups a page at a time as they are written, so a 100,000-item batch's report is never held whole."""
from functools import partial

from flask import Blueprint, Response, current_app, request, stream_with_context
from flask_login import login_required

from zeuge_lite import queries, report, review, security
from zeuge_lite import queries_similarity as qs
from zeuge_lite.db import get_db
from zeuge_lite.views import similarity_batch, storage, thresholds_from
from zeuge_lite.views.similarity import batch_groups, cards_of

bp = Blueprint("exports", __name__, url_prefix="/batches")

MIMETYPES = {"json": "application/json", "csv": "text/csv", "html": "text/html"}
# Groups turned into report groups at once (their items and scores read in one query each): few enough that a
# crowded batch's page stays small (10,000 member rows, ~15 MB), many enough that items_by_ids, which numbers
# the whole batch's positions each time (~80 ms at 100,000 items), runs a few times only.
GROUPS_PER_PAGE, PHOTOS_PER_PAGE = 2000, 10_000


@bp.route("/<int:batch_id>/similarity/export.<any(json, html, csv):fmt>")
@login_required
def export(batch_id, fmt):
    """The current groups as duplicates.json (the scan's shape), duplicates.csv or a self-contained
    duplicates.html, built by the same module as `flask zeuge scan`'s."""
    batch = similarity_batch(batch_id)
    findings = batch_report(batch, thresholds_from(request.args), with_thumbnails=fmt == "html")
    # html: self-contained (inline styles, data: thumbnails): saved and opened from disk, never shown under our CSP
    chunks = {"json": lambda: _json_chunks(findings), "csv": lambda: report.csv_chunks(findings),
              "html": lambda: report.html_chunks(findings)}[fmt]()
    response = Response(stream_with_context(chunks), mimetype=MIMETYPES[fmt])
    response.headers["Content-Disposition"] = security.attachment(f"duplicates.{fmt}")  # what the link says
    return response


def _json_chunks(findings):
    # What jsonify wrote when the report was built whole: Flask's JSON settings, compact, a closing newline.
    yield from report.json_chunks(findings, partial(current_app.json.dumps, separators=(",", ":")))
    yield "\n"


def batch_report(batch, thresholds, with_thumbnails):
    """The batch's groups (streamed: report.StreamedGroups), keepers, uniqueness and unreadable files as a
    report.Report."""
    conn, model = get_db(), current_app.config["MODEL"]
    found = partial(batch_groups, batch, thresholds)  # remembered per batch and sensitivity: cheap to ask again
    groups = report.StreamedGroups(lambda: (len(found()), sum(len(ids) for _group, ids in found())),
                                   lambda: _report_groups(batch, found(), model, with_thumbnails))
    errors = [{"path": e["filename"], "error": e["error"]} for e in qs.batch_feature_errors(conn, batch["id"], model)]
    return report.Report(f"Duplicates and similar photos in “{batch['name']}”", model, thresholds,
                         queries.count_items(conn, batch["id"]), groups, errors)


def _report_groups(batch, found, model, with_thumbnails):
    """ReportGroups for [(Group, item ids)], made a page of groups at a time."""
    conn, files = get_db(), storage()
    thumbnails = [report.MAX_THUMBNAILS if with_thumbnails else 0]  # read no more than are shown
    for page in _pages(found):
        cards = cards_of(batch, page)
        scores = qs.item_scores(conn, model, [m["id"] for card in cards for m in card["members"]])
        for card in cards:
            yield _report_group(card, scores, files, thumbnails)


def _pages(found):
    """found in runs of at most GROUPS_PER_PAGE groups or about PHOTOS_PER_PAGE photos."""
    page, photos = [], 0
    for entry in found:
        page.append(entry)
        photos += len(entry[1])
        if len(page) >= GROUPS_PER_PAGE or photos >= PHOTOS_PER_PAGE:
            yield page
            page, photos = [], 0
    if page:
        yield page


def _report_group(card, scores, files, thumbnails):
    """One card as a report.ReportGroup, its suggested keeper marked."""
    keep_id, _reasons = review.keeper(review.with_sharpness(files, card["members"]))
    return report.ReportGroup(card["group"].tier, card["group"].score, card["group"].signal, [
        report.ReportItem(m["filename"], m["width"], m["height"], scores.get(m["id"]), m.get("frames") or 1,
                          _thumbnail(files, m, thumbnails), m["id"], m["position_number"], m["id"] == keep_id)
        for m in card["members"]])


def _thumbnail(files, member, budget):
    if budget[0] <= 0:
        return None
    path = files.derived_path("thumb", member["sha256"])
    if not path.exists():
        return None
    budget[0] -= 1
    return path.read_bytes()
