"""Home (the user's archives), one archive's batches, the plans page."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from zeuge_lite import queries
from zeuge_lite.access import archive_or_404
from zeuge_lite.db import get_db
from zeuge_lite.plans import PLANS

bp = Blueprint("archives", __name__)


@bp.route("/")
@login_required
def home():
    """The user's archives; with one archive, go straight to it."""
    archives = queries.archives_of_user(get_db(), current_user.id)
    if len(archives) == 1:
        return redirect(url_for("archives.show", archive_id=archives[0]["id"]))
    return render_template("archives/home.html", archives=archives)


@bp.route("/archives/<int:archive_id>")
@login_required
def show(archive_id):
    """An archive's batches and a form to create one."""
    archive = archive_or_404(archive_id)
    batches = queries.batches_of_archive(get_db(), archive_id)
    archives = queries.archives_of_user(get_db(), current_user.id)
    return render_template("archives/show.html", archive=archive, batches=batches, archives=archives,
                           plan=PLANS.get(archive["plan"], PLANS["free"]))


@bp.route("/archives/<int:archive_id>/batches", methods=("POST",))
@login_required
def create_batch(archive_id):
    """Create a batch in an archive."""
    archive_or_404(archive_id, write=True)
    name = request.form.get("name", "").strip()
    if not name:
        flash("Give the batch a name.", "error")
        return redirect(url_for("archives.show", archive_id=archive_id))
    batch_id = queries.create_batch(get_db(), archive_id, name[:200])
    return redirect(url_for("batches.upload", batch_id=batch_id))


@bp.route("/plans")
@login_required
def plans():
    """What each plan includes."""
    archives = queries.archives_of_user(get_db(), current_user.id)
    return render_template("plans/page.html", plans=PLANS, archives=archives)
