"""Zeuge Lite: find duplicate scans, near-duplicates and related photos in an archive's batches."""
import os
from pathlib import Path

from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_config(app):
    instance = Path(app.instance_path)
    return {
        "SECRET_KEY": os.environ.get("ZEUGE_SECRET_KEY", "dev-only-change-me"),
        "DATABASE": str(instance / "zeuge.sqlite3"),
        "STORAGE_DIR": str(instance / "storage"),
        "HUEY_DB": str(instance / "huey.sqlite3"),
        "MAX_FILE_BYTES": 200 * 1024 * 1024,
        "MAX_IMAGE_PIXELS": 250_000_000,
        "THUMB_SIZE": 320,
        "PREVIEW_SIZE": 1600,
        "WTF_CSRF_TIME_LIMIT": None,
        "MODEL": os.environ.get("ZEUGE_MODEL", "efficientnet-lite0"),
        "MODEL_DIR": str(instance / "models"),
    }


def create_app(test_config=None):
    """Build the app: defaults, then instance/config.py, then test_config; then extensions and blueprints."""
    app = Flask(__name__, instance_relative_config=True,
                template_folder=str(PROJECT_ROOT / "templates"), static_folder=str(PROJECT_ROOT / "static"))
    app.config.from_mapping(_default_config(app))
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("ZEUGE")
    else:
        app.config.from_mapping(test_config)
    # One request carries one file from the uploader (per-file progress); leave room for the form fields.
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_FILE_BYTES"] + 1024 * 1024
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    Path(app.config["STORAGE_DIR"]).mkdir(parents=True, exist_ok=True)

    from zeuge_lite import auth, cli, db, views
    db.init_app(app)
    auth.init_app(app)
    views.init_app(app)
    cli.init_app(app)
    return app
