"""The matched regions of a verified pair (issue 11): a PNG drawn on demand from the cached verification
records, linked from the expanded card so an archivist sees why two files were joined. Plan-checked and
archive-checked like every similarity endpoint."""
from flask import Blueprint, Response, abort, current_app, url_for
from flask_login import login_required
from PIL import Image

from zeuge_lite import queries_similarity as qs
from zeuge_lite import review
from zeuge_lite.db import get_db
from zeuge_lite.similarity.decode import ImageRejected
from zeuge_lite.similarity.matches import match_picture
from zeuge_lite.similarity.verification import RECORD_VERSION, page_record
from zeuge_lite.similarity.verify import PageFeatures
from zeuge_lite.views import similarity_batch, storage

bp = Blueprint("matches", __name__, url_prefix="/batches")
MOST_PAIRS = 6  # pictures offered on one card: a large group's every pair would bury the card


@bp.route("/<int:batch_id>/similarity/group/<key>/matches.png")
@login_required
def picture(batch_id, key):
    """The two thumbnails of a pair (key "a-b", as group keys) side by side with its inlier matches drawn;
    404 unless the pair verified."""
    batch = similarity_batch(batch_id)
    pair = _verified_pair(batch, key)
    if pair is None:
        abort(404)
    first, second = pair
    records = _records(first, second)
    with Image.open(storage().derived_path("thumb", first["sha256"])) as thumb_a, \
            Image.open(storage().derived_path("thumb", second["sha256"])) as thumb_b:
        png, _drawn, _check = match_picture(thumb_a, thumb_b, records[0], records[1], first["text_pair"])
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=3600"})


def _verified_pair(batch, key):
    """(member a, member b) of the batch named by the pair key if their stored pair verified, else None."""
    try:
        ids = review.parse_key(key)
    except ValueError:
        return None
    members = {m["id"]: m for m in review.group_members(get_db(), batch["id"], ids)}
    if len(ids) != 2 or len(members) != 2:
        return None
    row = next((r for r in qs.pairs_among(get_db(), current_app.config["MODEL"], ids) if r["verified"]), None)
    if row is None:
        return None
    first = dict(members[row["a_item"]], text_pair=bool(row["text_pair"]))
    return first, members[row["b_item"]]


def _records(*members):
    """The members' verification records: cached ones, else made from the original (not cached here)."""
    cached = qs.page_records(get_db(), [m["sha256"] for m in members], RECORD_VERSION)
    records = []
    for member in members:
        data = cached.get(member["sha256"])
        if data is None:
            path = storage().original_path(member["sha256"], member["ext"])
            try:
                data = page_record(path.read_bytes(), current_app.config["MAX_IMAGE_PIXELS"])
            except (OSError, ImageRejected):
                abort(404)
        records.append(PageFeatures.from_bytes(data))
    return records


@bp.app_template_global()
def matched_pairs(batch, members, summary):
    """The verified pairs among an expanded card's members, for the "why" pictures (at most MOST_PAIRS), from the
    pairs the card's summary already read (pair ends are item ids)."""
    names = {m["id"]: m["filename"] for m in members}
    found = [pair for pair in (summary.pairs if summary else []) if pair.verified][:MOST_PAIRS]
    return [{"a_name": names[pair.a], "b_name": names[pair.b], "inliers": pair.inliers, "coverage": pair.coverage,
             "text": pair.text, "url": url_for("matches.picture", batch_id=batch["id"],
                                               key=review.group_key((pair.a, pair.b)))}
            for pair in found if pair.a in names and pair.b in names]
