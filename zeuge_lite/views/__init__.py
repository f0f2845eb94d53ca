"""Blueprints, one per area, and the helpers they share."""
from flask import current_app

from zeuge_lite.storage import Storage, sweep_partial_files


def storage():
    """The app's file storage."""
    return Storage(current_app.config["STORAGE_DIR"])


def reject_keys(mapping, *keys):
    """A copy of a dict without some keys (for building URLs from the current query arguments)."""
    return {key: value for key, value in mapping.items() if key not in keys}


def init_app(app):
    """Register every blueprint, the template helpers and the plan check's error handler; clear the .part
    files a crash left in the storage (every process starts here: web, worker, `flask init-db`)."""
    from zeuge_lite import plans
    from zeuge_lite.views import archives, batches, items, review, similarity
    for module in (archives, batches, items, similarity, review):
        app.register_blueprint(module.bp)
    app.register_blueprint(review.audit_bp)
    app.register_blueprint(review.items_bp)
    app.add_template_filter(reject_keys)
    plans.init_app(app)
    sweep_partial_files(app.config["STORAGE_DIR"])
