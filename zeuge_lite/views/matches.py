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
from zeuge_lite.similarity.verification import VERSION, page_record
from zeuge_lite.similarity.verify import PageFeatures
from zeuge_lite.views import storage
from zeuge_lite.views.similarity import _batch

bp = Blueprint("matches", __name__, url_prefix="/batches")
MOST_PAIRS = 6  # pictures offered on one card: a large group's every pair would bury the card


@bp.route("/<int:batch_id>/similarity/matches/<int:a>-<int:b>.png")
@login_required
def picture(batch_id, a, b):
    """The two thumbnails side by side with the pair's inlier matches drawn; 404 unless the pair verified."""
    batch = _batch(batch_id)
    members = {m["id"]: m for m in review.group_members(get_db(), batch["id"], {a, b})}
    pair = _verified_pair(members, a, b)
    if pair is None:
        abort(404)
    first, second = members[pair["a_item"]], members[pair["b_item"]]
    records = _records(first, second)
    with Image.open(storage().derived_path("thumb", first["sha256"])) as thumb_a, \
            Image.open(storage().derived_path("thumb", second["sha256"])) as thumb_b:
        png, _drawn, _check = match_picture(thumb_a, thumb_b, records[0], records[1], bool(pair["text_pair"]))
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=3600"})


def _verified_pair(members, a, b):
    """The stored pair of these two members if its verification passed, else None."""
    if a == b or len(members) != 2:
        return None
    rows = qs.pairs_among(get_db(), current_app.config["MODEL"], [a, b])
    return next((row for row in rows if row["verified"]), None)


def _records(*members):
    """The members' verification records: cached ones, else made from the original (not cached here)."""
    cached = qs.page_records(get_db(), [m["sha256"] for m in members], VERSION)
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
def matched_pairs(batch, members):
    """The verified pairs among an expanded card's members, for the "why" pictures (at most MOST_PAIRS)."""
    names = {m["id"]: m["filename"] for m in members}
    rows = qs.pairs_among(get_db(), current_app.config["MODEL"], list(names))
    found = [row for row in rows if row["verified"]][:MOST_PAIRS]
    return [{"a_name": names[row["a_item"]], "b_name": names[row["b_item"]], "inliers": row["inliers"],
             "coverage": row["coverage"], "text": bool(row["text_pair"]),
             "url": url_for("matches.picture", batch_id=batch["id"], a=row["a_item"], b=row["b_item"])}
            for row in found]
