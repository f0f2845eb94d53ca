"""A batch's groups as downloads: duplicates.json, .csv, the HTML report, and the report as a ZIP with every
thumbnail beside it, built by the same module (zeuge_lite.report) as `flask zeuge scan`'s. Plan-checked on the
server like every similarity endpoint.

Each is streamed: the first bytes go out before the groups are counted, the groups are turned into report
groups a page at a time as they are written, so a 100,000-item batch's report is never held whole."""
from functools import cache, partial

from flask import Blueprint, Response, current_app, request, stream_with_context
from flask_login import login_required

from zeuge_lite import exporting, queries, report, review, security
from zeuge_lite import queries_similarity as qs
from zeuge_lite.db import get_db
from zeuge_lite.views import similarity_batch, storage, thresholds_from
from zeuge_lite.views.similarity import batch_groups, cards_of

bp = Blueprint("exports", __name__, url_prefix="/batches")

MIMETYPES = {"json": "application/json", "csv": "text/csv", "html": "text/html", "zip": "application/zip"}
# Groups turned into report groups at once (their items and scores read in one query each): few enough that a
# crowded batch's page stays small (10,000 member rows, ~15 MB), many enough that items_by_ids, which numbers
# the whole batch's positions each time (~80 ms at 100,000 items), runs a few times only.
GROUPS_PER_PAGE, PHOTOS_PER_PAGE = 2000, 10_000
THUMBNAILS_DIR = "thumbnails"


@bp.route("/<int:batch_id>/similarity/export.<any(json, html, csv, zip):fmt>")
@login_required
def export(batch_id, fmt):
    """The current groups as duplicates.json (the scan's shape), duplicates.csv, a self-contained
    duplicates.html (the first report.MAX_THUMBNAILS thumbnails inline) or duplicates.zip (that report
    linking every grouped photo's thumbnail, in a folder beside it), built by the same module as the scan's."""
    batch, thresholds = similarity_batch(batch_id), thresholds_from(request.args)
    # html: self-contained (inline styles, data: thumbnails): saved and opened from disk, never shown under our CSP
    chunks = {"json": _json_chunks, "csv": _csv_chunks, "html": _html_chunks, "zip": _zip_chunks}[fmt](batch,
                                                                                                   thresholds)
    response = Response(stream_with_context(chunks), mimetype=MIMETYPES[fmt])
    response.headers["Content-Disposition"] = security.attachment(f"duplicates.{fmt}")  # what the link says
    return response


def _json_chunks(batch, thresholds):
    # What jsonify wrote when the report was built whole: Flask's JSON settings, compact, a closing newline.
    yield from report.json_chunks(batch_report(batch, thresholds),
                                  partial(current_app.json.dumps, separators=(",", ":")))
    yield "\n"


def _csv_chunks(batch, thresholds):
    return report.csv_chunks(batch_report(batch, thresholds))


def _html_chunks(batch, thresholds):
    return report.html_chunks(batch_report(batch, thresholds, _inline_thumbnails(storage())))


def _zip_chunks(batch, thresholds):
    """duplicates.html linking thumbnails/<sha256>.jpg, then those files: the report's pass over the groups
    collects which thumbnails it links, so the groups are made once."""
    files, linked = storage(), set()
    page = (chunk.encode() for chunk in report.html_chunks(
        batch_report(batch, thresholds, _linked_thumbnails(files, linked)), linked=True))
    return exporting.stream_zip(_report_entries(page, files, linked))


def _report_entries(page, files, linked):
    yield "duplicates.html", page, True
    for sha256 in sorted(linked):
        try:
            data = files.derived_path("thumb", sha256).read_bytes()
        except FileNotFoundError:  # deleted since the page linked it: the page shows no picture there
            continue
        yield f"{THUMBNAILS_DIR}/{sha256}.jpg", [data], False  # JPEGs: deflating gains nothing


def batch_report(batch, thresholds, thumbnail=None):
    """The batch's groups (streamed: report.StreamedGroups), keepers, uniqueness and unreadable files as a
    report.Report; thumbnail(member) gives a member's (JPEG bytes, link) for the HTML report."""
    conn, model = get_db(), current_app.config["MODEL"]
    found = cache(partial(batch_groups, batch, thresholds))  # one grouping per report, counted and written alike
    groups = report.StreamedGroups(lambda: (len(found()), sum(len(ids) for _group, ids in found())),
                                   lambda: _report_groups(batch, found(), model, thumbnail or _no_thumbnail))
    errors = [{"path": e["filename"], "error": e["error"]} for e in qs.batch_feature_errors(conn, batch["id"], model)]
    return report.Report(f"Duplicates and similar photos in “{batch['name']}”", model, thresholds,
                         queries.count_items(conn, batch["id"]), groups, errors)


def _report_groups(batch, found, model, thumbnail):
    """ReportGroups for [(Group, item ids)], made a page of groups at a time."""
    conn, files = get_db(), storage()
    for page in _pages(found):
        cards = cards_of(batch, page)
        scores = qs.item_scores(conn, model, [m["id"] for card in cards for m in card["members"]])
        for card in cards:
            yield _report_group(card, scores, files, thumbnail)


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


def _report_group(card, scores, files, thumbnail):
    """One card as a report.ReportGroup, its suggested keeper marked."""
    keep_id, _reasons = review.keeper(review.with_sharpness(files, card["members"]))
    return report.ReportGroup(card["group"].tier, card["group"].score, card["group"].signal,
                              [_report_item(m, scores, keep_id, thumbnail) for m in card["members"]])


def _report_item(member, scores, keep_id, thumbnail):
    image, href = thumbnail(member)
    return report.ReportItem(member["filename"], member["width"], member["height"], scores.get(member["id"]),
                             member.get("frames") or 1, image, member["id"], member["position_number"],
                             member["id"] == keep_id, href)


def _no_thumbnail(_member):
    return None, None


def _inline_thumbnails(files):
    """thumbnail(member) for a one-file report: the bytes of the first report.MAX_THUMBNAILS (read no more)."""
    budget = [report.MAX_THUMBNAILS]

    def thumbnail(member):
        if budget[0] <= 0:
            return None, None
        path = files.derived_path("thumb", member["sha256"])
        if not path.exists():
            return None, None
        budget[0] -= 1
        return path.read_bytes(), None
    return thumbnail


def _linked_thumbnails(files, linked):
    """thumbnail(member) for a report ZIP: a link to thumbnails/<sha256>.jpg, its sha256 added to linked."""
    def thumbnail(member):
        sha256 = member["sha256"]
        if sha256 not in linked:
            if not files.derived_path("thumb", sha256).exists():
                return None, None
            linked.add(sha256)
        return None, f"{THUMBNAILS_DIR}/{sha256}.jpg"
    return thumbnail
