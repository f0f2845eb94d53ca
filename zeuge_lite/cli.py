"""`flask zeuge ...` commands: demo, plan, admin, purge, scan, model, backup, restore, check."""
import sys
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
    """Set the plan of ARCHIVE (its name or id) to PLAN (written to the archive's audit log)."""
    from zeuge_lite import admin
    conn = _connection()
    try:
        row = queries.archive_by_id(conn, int(archive)) if archive.isdigit() else None
        row = row or queries.archive_by_name(conn, archive)
        if row is None:
            raise click.ClickException(f"No archive is called or numbered “{archive}”.")
        admin.change_plan(conn, row["id"], plan, None, "changed the plan on the command line")
        click.echo(f"Archive “{row['name']}” is now on the {plan} plan.")
    finally:
        conn.close()


@zeuge.command("admin")
@click.argument("email", required=False)
@click.option("--remove", is_flag=True, help="Stop this account being an administrator.")
def admin_command(email, remove):
    """Make the account with EMAIL an instance administrator (--remove: no longer one); without EMAIL, list them."""
    from zeuge_lite import admin
    from zeuge_lite import queries_admin as qa
    if remove and not email:
        raise click.UsageError("--remove needs the EMAIL of the administrator to remove.")
    conn = _connection()
    try:
        user = admin.set_admin(conn, email, not remove) if email else None
        left = qa.admins(conn)
    except admin.AdminError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        conn.close()
    if user is not None:
        click.echo(f"{user['name']} ({user['email']}) is {'no longer' if remove else 'now'} an administrator.")
    else:
        click.echo("Administrators: " + (", ".join(f"{a['name']} ({a['email']})" for a in left) or "none"))
    if not left:
        click.echo("This instance has no administrator now: plans change only with `flask zeuge plan` until "
                   "`flask zeuge admin EMAIL` makes one.")


@zeuge.command("purge")
def purge_command():
    """Delete trash entries whose time in the trash is over (the worker also does this every hour)."""
    from zeuge_lite.trash import purge_expired
    conn = _connection()
    try:
        count = purge_expired(conn, Storage(current_app.config["STORAGE_DIR"]))
    finally:
        conn.close()
    click.echo(f"{count} expired item{'' if count == 1 else 's'} deleted from the trash permanently.")


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
    out_dir.mkdir(parents=True, exist_ok=True)
    with click.progressbar(length=1, label="Analysing", show_pos=True) as bar:
        def progress(done, total):
            bar.length = total
            bar.update(done - bar.pos)
        result = scan_folder(folder, model, thresholds, current_app.config["MAX_IMAGE_PIXELS"], progress,
                             workers, current_app.config["MODEL_DIR"], spill_dir=out_dir)
    json_path, html_path = write_outputs(result, out_dir)
    others = len(result.skipped) - len(result.errors)
    click.echo(f"{len(result.paths)} photos, {len(result.groups)} groups, {len(result.errors)} unreadable files, "
               f"{others} other files not analysed (each listed with its reason in duplicates.json).")
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


@zeuge.command("backup")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--verify", is_flag=True, help="Re-read the copies already in DEST and replace any that changed.")
def backup_command(dest, verify):
    """Back up the database and stored files into DEST while the app runs; a later run copies only what is new."""
    from zeuge_lite import backup
    try:
        report = backup.backup(current_app.config["DATABASE"], Storage(current_app.config["STORAGE_DIR"]), dest,
                               verify, _stage_echo)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    counts = report.counts
    click.echo(f"Backed up schema version {report.schema_version}: {counts.get('items', 0)} items, "
               f"{counts.get('files', 0)} files, {counts.get('runs', 0)} runs to {dest}")
    _echo_copied("originals", report.originals)
    _echo_copied("thumbnails and previews", report.derived)
    _exit_on_problems(report.problems, "The backup is complete but for")


@zeuge.command("restore")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds data (stop the app first).")
def restore_command(src, force):
    """Restore the backup in SRC into the configured DATABASE and STORAGE_DIR, checking every original."""
    from zeuge_lite import backup
    try:
        report = backup.restore(src, current_app.config["DATABASE"], Storage(current_app.config["STORAGE_DIR"]),
                                force, _stage_echo)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Restored {report.counts.get('items', 0)} items and {report.counts.get('files', 0)} files into "
               f"{current_app.config['DATABASE']} (schema version {report.schema_version}).")
    _echo_copied("originals (sha256 checked)", report.originals)
    _echo_copied("thumbnails and previews", report.derived)
    if report.failed_runs:
        click.echo(f"{report.failed_runs} analysis runs were in progress at backup time: marked failed, run again.")
    if report.derived.missing:
        click.echo("Some thumbnails or previews were not in the backup: `flask --app app zeuge check --fix` "
                   "makes them again.")
    _exit_on_problems(report.problems, "Restored, but for")


@zeuge.command("check")
@click.option("--fix", "fixing", is_flag=True,
              help="Remove orphaned and temp files, make missing thumbnails and previews again.")
def check_command(fixing):
    """Check the database and the stored files; say what --fix would do, or do it. Exit 1 if problems remain."""
    from zeuge_lite import backup
    conn, storage = _connection(), Storage(current_app.config["STORAGE_DIR"])
    try:
        report = backup.check(conn, storage)
        _echo_check(report, fixing)
        if fixing and report.fixable:
            done = backup.fix(conn, storage, limits_from_config(current_app.config), report)
            click.echo(f"Fixed: removed {len(done.removed)} files, made {done.regenerated} derived images again.")
            for failure in done.failed:
                click.echo(f"could not make again: {failure}")
            report = backup.check(conn, storage)
            click.echo(f"Checked again: {report.problems} problems remain.")
    finally:
        conn.close()
    if report.problems:
        sys.exit(1)
    click.echo("No problems found.")


def _echo_check(report, fixing):
    """Say what a check found, and what --fix does (or would do) about it."""
    will = "removing" if fixing else "would remove"
    for message in report.database:
        click.echo(f"database: {message}")
    for missing in report.missing_originals:
        names = ", ".join(f"item {i['id']} “{i['filename']}” (batch {i['batch_id']})" for i in missing["items"])
        click.echo(f"original {missing['reason']}: {missing['path']} — {names or 'no item'}; restore it from a "
                   "backup (never fixed by deleting data)")
    for path in report.orphans:
        click.echo(f"orphan (no row names it), {will}: {path}")
    for path in report.temp_files:
        click.echo(f"leftover temp file, {will}: {path}")
    for sha256, ext, kinds in report.missing_derived:
        verb = "making again" if fixing else "would make again"
        click.echo(f"{' and '.join(kinds)} missing, {verb} from the original: {sha256}.{ext}")
    for path in report.recent:
        click.echo(f"unreferenced but recent (maybe an upload under way), left alone: {path}")
    if report.problems and not fixing:
        click.echo(f"{report.problems} problems; `--fix` mends {report.fixable} of them.")


def _stage_echo(stage, done, total):
    if done == 0:
        click.echo(f"{stage}: {total} to go through" if stage != "database" else "database: taking a snapshot")


def _echo_copied(what, copied):
    click.echo(f"{what}: {copied.copied} copied ({copied.bytes:,} bytes), {copied.present} already there, "
               f"{copied.missing} missing")


def _exit_on_problems(problems, lead):
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        click.echo(f"{lead} {len(problems)} problems.", err=True)
        sys.exit(1)


def init_app(app):
    """Register the `flask zeuge` command group."""
    app.cli.add_command(zeuge)
