"""Blueprints, one per area, and the helpers they share."""
from flask import current_app, request, url_for

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


def plural(count, word, many=None):
    """'1 batch', '3 batches': a count with its noun (many: the plural when it is not word + 's')."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def init_app(app):
    """Register every blueprint, the template helpers and the plan check's error handler; clear the .part
    files a crash left in the storage (every process starts here: web, worker, `flask init-db`)."""
    from zeuge_lite import plans
    from zeuge_lite.memo import Memo
    app.extensions["memo"] = Memo()
    from zeuge_lite.views import archives, batches, errors, items, matches, plain, review, similarity, trash
    errors.init_app(app)
    for module in (archives, batches, items, similarity, review, trash, plain, matches):
        app.register_blueprint(module.bp)
    app.register_blueprint(review.audit_bp)
    app.register_blueprint(review.items_bp)
    app.add_template_global(view_state)
    app.add_template_global(url_pattern)
    app.add_template_filter(plural)
    plans.init_app(app)
    sweep_partial_files(app.config["STORAGE_DIR"])
