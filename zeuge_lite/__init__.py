"""Zeuge Lite: find duplicate scans, near-duplicates and related photos in an archive's batches."""
import os
import sys
from pathlib import Path

from flask import Flask

__version__ = "0.3.0"  # recorded in backups' manifests
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_config(app):
    instance = Path(app.instance_path)
    return {
        "SECRET_KEY": None,  # None: read from (or generated into) instance/secret_key
        "COOKIE_SECURE": False,  # True when the site is served over HTTPS: cookies then travel only there
        "LOGIN_DAYS": 14,  # a login (and its "keep me logged in" cookie) lasts this long at most
        "TRUSTED_PROXIES": 0,  # reverse proxies in front that set X-Forwarded-For/-Proto (1 behind nginx)
        "LOGIN_LIMITS": "10 per minute; 50 per hour",  # failed-or-not login posts per client address
        "ACCOUNT_LOGIN_LIMITS": "5 per minute; 30 per hour",  # login posts per e-mail address
        "HUEY_DB": None,  # None: huey.sqlite3 beside the database
        "HUEY_URL": None,  # redis://host:6379/0: the queue in Redis instead, for many workers (docs/scaling.md)
        "DATABASE": str(instance / "zeuge.sqlite3"),
        "STORAGE_DIR": str(instance / "storage"),
        "MAX_FILE_BYTES": 200 * 1024 * 1024,
        "MAX_IMAGE_PIXELS": 250_000_000,
        "THUMB_SIZE": 320,
        "PREVIEW_SIZE": 1600,
        "WTF_CSRF_TIME_LIMIT": None,
        "MODEL": os.environ.get("ZEUGE_MODEL", "efficientnet-lite0"),
        "MODEL_DIR": str(instance / "models"),
        # None: start a worker thread in-process under `flask run` only; True/False to force it.
        "WORKER_IN_PROCESS": None,
        "ANALYSIS_WORKERS": 0,  # feature-extraction processes per run; 0 = one per core
        "RUN_STALE_SECONDS": 120,  # a running run without a heartbeat this long is marked failed
        "TRASH_DAYS": 30,  # deleted items stay restorable this long; 0 deletes permanently at once
        "GRID_PAGE_SIZE": 80,  # tiles per page of the Items grid (about 1.1 KB of HTML each)
        "TABLE_PAGE_SIZE": 100,  # rows per page of the Metadata table (about 1.7 KB each)
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
    _resolve_paths(app)
    # One request carries one file from the uploader (per-file progress); leave room for the form fields.
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_FILE_BYTES"] + 1024 * 1024

    from zeuge_lite import auth, cli, db, security, sessions, tasks, views
    from zeuge_lite.similarity.decode import silence_damaged_tag_warnings
    silence_damaged_tag_warnings()
    sessions.init_app(app)
    security.init_app(app)
    app.extensions["huey"] = tasks.configure_queue(app.config)
    db.init_app(app)
    auth.init_app(app)
    views.init_app(app)
    cli.init_app(app)
    _maybe_start_worker(app)
    return app


def _resolve_paths(app):
    """Settings that default relative to others: the queue lives beside the database unless set."""
    if not app.config.get("HUEY_DB"):
        app.config["HUEY_DB"] = str(Path(app.config["DATABASE"]).parent / "huey.sqlite3")
    Path(app.config["HUEY_DB"]).parent.mkdir(parents=True, exist_ok=True)


def _maybe_start_worker(app):
    """Under `flask run`, analyses run in this process so the demo needs no second command.

    WORKER_IN_PROCESS true forces it for a web server (no command line of flask's), never for another flask
    command: `flask zeuge demo` or `flask zeuge scan` would otherwise take queued runs and end mid-way; never
    in `huey_consumer app.huey` either, which is a worker already."""
    import click
    wanted = app.config["WORKER_IN_PROCESS"]
    context = click.get_current_context(silent=True)
    command = context.command.name if context is not None else None
    if command not in (None, "run") or Path(sys.argv[0]).name.startswith("huey_consumer"):
        return
    if wanted is None:
        reloader_parent = app.debug and os.environ.get("WERKZEUG_RUN_MAIN") != "true"
        wanted = command == "run" and not app.testing and not reloader_parent
    if wanted:
        from zeuge_lite.tasks import start_in_process_consumer
        start_in_process_consumer()
