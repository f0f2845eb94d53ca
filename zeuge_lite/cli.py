"""`flask zeuge ...` commands: demo, plan, scan, model."""
from dataclasses import replace
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from zeuge_lite import queries
from zeuge_lite.db import connect, migrate
from zeuge_lite.ingest import limits_from_config
from zeuge_lite.plans import PLANS
from zeuge_lite.similarity.embedding import MODELS, ModelUnavailable, get_embedder, model_path, model_spec
from zeuge_lite.similarity.grouping import Thresholds
from zeuge_lite.storage import Storage

zeuge = AppGroup("zeuge", help="Zeuge Lite commands.")


def _connection():
    conn = connect(current_app.config["DATABASE"])
    migrate(conn)
    return conn


@zeuge.command("demo")
def demo_command():
    """Create a demo user, a paid demo archive with real photos and near-duplicates, and a free archive."""
    from zeuge_lite.demo import create_demo
    conn = _connection()
    try:
        click.echo(create_demo(conn, Storage(current_app.config["STORAGE_DIR"]),
                               limits_from_config(current_app.config)))
    finally:
        conn.close()


@zeuge.command("plan")
@click.argument("archive")
@click.argument("plan", type=click.Choice(sorted(PLANS)))
def plan_command(archive, plan):
    """Set the plan of ARCHIVE (its name or id) to PLAN."""
    conn = _connection()
    try:
        row = queries.archive_by_id(conn, int(archive)) if archive.isdigit() else None
        row = row or queries.archive_by_name(conn, archive)
        if row is None:
            raise click.ClickException(f"No archive is called or numbered “{archive}”.")
        queries.set_plan(conn, row["id"], plan)
        click.echo(f"Archive “{row['name']}” is now on the {plan} plan.")
    finally:
        conn.close()


@zeuge.command("scan")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for duplicates.json and duplicates.html.")
@click.option("--threshold", type=click.FloatRange(0.0, 1.0), default=None,
              help="Visual similarity (cosine) a pair needs to be grouped; default "
                   f"{Thresholds().cosine_similar}.")
@click.option("--level", type=click.Choice(["exact", "near", "similar"]), default="similar",
              help="Which tiers form groups.")
@click.option("--model", default=None, help="Embedding model (default: ZEUGE_MODEL or efficientnet-lite0).")
@click.option("--workers", type=click.IntRange(1, 16), default=None, help="Worker processes.")
def scan_command(folder, out_dir, threshold, level, model, workers):
    """Find duplicates and similar photos under FOLDER without a server; write reports to --out."""
    from zeuge_lite.similarity.scan import scan_folder, write_outputs
    model = model or current_app.config["MODEL"]
    thresholds = _thresholds(threshold, level)
    _check_model(model)
    with click.progressbar(length=1, label="Analysing", show_pos=True) as bar:
        def progress(done, total):
            bar.length = total
            bar.update(done - bar.pos)
        result = scan_folder(folder, model, thresholds, current_app.config["MAX_IMAGE_PIXELS"], progress,
                             workers, current_app.config["MODEL_DIR"])
    json_path, html_path = write_outputs(result, out_dir)
    click.echo(f"{len(result.paths)} photos, {len(result.groups)} groups, {len(result.errors)} unreadable files.")
    click.echo(f"Wrote {json_path} and {html_path}")


def _thresholds(threshold, level):
    base = Thresholds(level=level)
    return replace(base, cosine_similar=threshold) if threshold is not None else base


def _check_model(name):
    try:
        spec = model_spec(name)
        if not model_path(spec, current_app.config["MODEL_DIR"]).exists():
            get_embedder(name, current_app.config["MODEL_DIR"])  # raises with the how-to message
    except ModelUnavailable as exc:
        raise click.ClickException(str(exc)) from None


model_group = AppGroup("model", help="Embedding models: list them, fetch one that does not ship.")
zeuge.add_command(model_group)


@model_group.command("list")
def model_list_command():
    """List the known models and whether each is installed."""
    for name, spec in sorted(MODELS.items()):
        path = model_path(spec, current_app.config["MODEL_DIR"])
        state = "installed" if path.exists() else "not installed"
        default = " (selected)" if name == current_app.config["MODEL"] else ""
        click.echo(f"{name}{default}: {spec.dim}-d, {state} at {path}")


@model_group.command("fetch")
@click.argument("name")
@click.option("--url", default=None, help="Download from here instead of the registry's address.")
def model_fetch_command(name, url):
    """Download model NAME (needs internet), check that it loads, and record its sha256."""
    from zeuge_lite.similarity.fetch import fetch_model
    try:
        spec = model_spec(name)
        with click.progressbar(length=1, label=f"Downloading {name}") as bar:
            def progress(done, total):
                bar.length = max(total, done)
                bar.update(done - bar.pos)
            digest = fetch_model(spec, current_app.config["MODEL_DIR"], url, progress)
    except ModelUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{name} installed and verified; sha256 {digest}. Select it with ZEUGE_MODEL={name}.")


def init_app(app):
    """Register the `flask zeuge` command group."""
    app.cli.add_command(zeuge)
