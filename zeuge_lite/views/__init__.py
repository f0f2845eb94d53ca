"""Blueprints, one per area, and the helpers they share."""
from flask import current_app

from zeuge_lite.storage import Storage


def storage():
    """The app's file storage."""
    return Storage(current_app.config["STORAGE_DIR"])


def init_app(app):
    """Register every blueprint and the plan check's error handler."""
    from zeuge_lite import plans
    from zeuge_lite.views import archives, batches, items, similarity
    for module in (archives, batches, items, similarity):
        app.register_blueprint(module.bp)
    plans.init_app(app)
