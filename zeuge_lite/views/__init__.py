"""Blueprints, one per area, and the helpers they share."""
from flask import current_app, redirect, request, url_for

from zeuge_lite.access import batch_or_404
from zeuge_lite.plans import require_similarity
from zeuge_lite.report import percent
from zeuge_lite.similarity.grouping import PRESETS, Thresholds
from zeuge_lite.storage import Storage, sweep_partial_files


def storage():
    """The app's file storage."""
    return Storage(current_app.config["STORAGE_DIR"])


def memo():
    """The app's in-process cache of computed results (groups of a batch at a sensitivity)."""
    return current_app.extensions["memo"]


# The Similarity tab's view state in its URL: only these names go back into url_for (others could clash
# with its own arguments, such as batch_id or endpoint, and answer 500).
VIEW_STATE_KEYS = ("level", "threshold", "tier", "sort", "open", "page", "scope")


def view_state(*drop):
    """The current request's view-state arguments, for building the next URL, without the names in drop."""
    return {key: request.args[key] for key in VIEW_STATE_KEYS if key in request.args and key not in drop}


_SLOT = 918273645546372819  # stands for the open URL part: digits, so any converter takes it


def url_pattern(endpoint, slot, **values):
    """url_for(endpoint, **values) with the argument `slot` left open as "{}", to fill per row with .format():
    a page of 120 tiles builds each kind of link once instead of once per tile."""
    return url_for(endpoint, **values, **{slot: _SLOT}).replace(str(_SLOT), "{}")


def similarity_batch(batch_id, write=False):
    """The batch, if the user may see it (404 otherwise) and its archive's plan includes similarity (402)."""
    batch = batch_or_404(batch_id, write=write)
    require_similarity(batch)
    return batch


SERIES_PERCENT = (60, 84)  # the slider's range: below, photos are unrelated; from 85 %, near-duplicates


def thresholds_from(args):
    """Thresholds from the level preset and the optional slider: how alike (percent) a similar series must be."""
    base = PRESETS.get(args.get("level", "similar"), PRESETS["similar"])
    try:
        percent = float(args.get("threshold", ""))
    except ValueError:
        return base
    low, high = SERIES_PERCENT
    return Thresholds(**{**base.__dict__, "cosine_similar": min(max(percent, low), high) / 100.0})


def plural(count, word, many=None):
    """'1 batch', '3 batches': a count with its noun (many: the plural when it is not word + 's')."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def _favicon():
    # Browsers and tools ask for /favicon.ico whatever the page's <link rel=icon> says.
    return redirect(url_for("static", filename="favicon.svg"), 301)


def init_app(app):
    """Register every blueprint, the template helpers and the plan check's error handler; clear the .part
    files a crash left in the storage (every process starts here: web, worker, `flask init-db`)."""
    from zeuge_lite import plans
    from zeuge_lite.memo import Memo
    app.extensions["memo"] = Memo()
    from zeuge_lite.views import (admin, archives, audit_log, batches, errors, exports, items, lookup, matches,
                                  members, plain, review, similarity, trash)
    errors.init_app(app)
    for module in (archives, members, admin, batches, items, similarity, review, exports, lookup, audit_log, trash,
                   plain, matches):
        app.register_blueprint(module.bp)
    app.add_url_rule("/favicon.ico", "favicon", _favicon)
    app.add_template_global(view_state)
    app.add_template_global(url_pattern)
    app.add_template_filter(plural)
    app.add_template_filter(percent)
    plans.init_app(app)
    sweep_partial_files(app.config["STORAGE_DIR"])
