"""`flask zeuge ...` commands: demo, plan (more join as the engine lands)."""
import click
from flask import current_app
from flask.cli import AppGroup

from zeuge_lite import queries
from zeuge_lite.db import connect
from zeuge_lite.ingest import limits_from_config
from zeuge_lite.plans import PLANS
from zeuge_lite.storage import Storage

zeuge = AppGroup("zeuge", help="Zeuge Lite commands.")


def _connection():
    return connect(current_app.config["DATABASE"])


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


def init_app(app):
    """Register the `flask zeuge` command group."""
    app.cli.add_command(zeuge)
