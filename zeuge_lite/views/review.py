"""Acting on a similarity group: expand, move copies to the trash, resolve a tier, place together, not
duplicates, compare and copy metadata. Every endpoint checks the plan on the server; changes need a writer's role."""
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from zeuge_lite import review
from zeuge_lite import queries_review as qr
from zeuge_lite.access import can_write
from zeuge_lite.db import get_db
from zeuge_lite.report import TIER_LABELS
from zeuge_lite.views import similarity_batch, storage, thresholds_from, view_state
from zeuge_lite.views.batches import render_tab
from zeuge_lite.views.similarity import batch_resolutions

bp = Blueprint("review", __name__, url_prefix="/batches")


def _members(batch, text):
    """The batch's members named in a group key; a 409 card if some are gone (a stale page, a double click)."""
    try:
        ids = review.parse_key(text or "")
    except ValueError:
        abort(404)
    members = review.group_members(get_db(), batch["id"], ids)
    if len(members) != len(ids):
        abort(Response(render_template("similarity/_stale.html", batch=batch), 409))
    return members


def card_context(batch, members, message=None):
    """Everything the expanded card shows for these members."""
    card = review.expanded_card(get_db(), storage(), current_app.config["MODEL"], batch["archive_id"], members,
                                thresholds_from(request.args))
    return {"batch": batch, "writable": can_write(batch), "message": message, **card}


@bp.route("/<int:batch_id>/similarity/group/<key>")
@login_required
def group(batch_id, key):
    """The expanded card of a group: larger previews, technical data, keep-best, actions."""
    batch = similarity_batch(batch_id)
    return render_template("similarity/_group_detail.html", **card_context(batch, _members(batch, key)))


@bp.route("/<int:batch_id>/similarity/group/<key>/delete", methods=("GET", "POST"))
@login_required
def delete(batch_id, key):
    """GET: a confirmation naming what will go. POST: move the chosen members to the trash."""
    batch = similarity_batch(batch_id, write=True)
    members = _members(batch, key)
    chosen = _chosen(members)
    days = current_app.config["TRASH_DAYS"]
    if request.method != "POST":  # GET and HEAD only look
        return render_template("similarity/_delete_confirm.html", batch=batch, key=key, chosen=chosen,
                               remaining=[m for m in members if m not in chosen], trash_days=days)
    removal = review.delete_members(get_db(), storage(), batch, chosen, current_user.id, members, days)
    remaining = [m for m in members if m not in chosen]
    return render_template("similarity/_group_detail.html", **card_context(
        batch, remaining, removal.message([m["filename"] for m in chosen])))


def _chosen(members):
    """Members picked in the form ('item' values), or all but the suggested keeper with keep=suggested."""
    values = request.values
    if values.get("keep") == "suggested":
        keep_id, _reasons = review.keeper(review.with_sharpness(storage(), members))
        return [m for m in members if m["id"] != keep_id]
    picked = _ticked()
    chosen = [m for m in members if m["id"] in picked]
    if not chosen or len(chosen) == len(members) and values.get("confirm_all") != "yes":
        abort(422, "Choose the copies to delete; at least one copy of a group stays unless you confirm all.")
    return chosen


@bp.route("/<int:batch_id>/similarity/resolve/<any(exact, near):tier>", methods=("GET", "POST"))
@login_required
def resolve_all(batch_id, tier):
    """GET: the counts and the list of what 'resolve all' of a tier would do. POST: keep each group's suggested
    keeper and move the rest to the trash, one audit entry per group."""
    batch = similarity_batch(batch_id, write=True)
    thresholds = thresholds_from(request.args)
    plans = batch_resolutions(batch, thresholds, (tier,))
    days = current_app.config["TRASH_DAYS"]
    if request.method != "POST":  # GET and HEAD only look
        return render_tab("similarity/resolve.html", batch, active="similarity", plans=plans, tier=tier,
                          label=TIER_LABELS[tier], trash_days=days, args=view_state())
    count = review.resolve(get_db(), storage(), batch, plans, current_user.id, days)
    kept = f"moved to the trash, restorable for {days} days" if days else "deleted permanently"
    flash(f"Resolved {len(plans)} {TIER_LABELS[tier]} group{'' if len(plans) == 1 else 's'}: kept each suggested "
          f"keeper; {count} photo{'' if count == 1 else 's'} {kept}.")
    return redirect(url_for("similarity.tab", batch_id=batch_id, **view_state()))


@bp.route("/<int:batch_id>/similarity/group/<key>/place-together", methods=("POST",))
@login_required
def place_together(batch_id, key):
    """Move the group's members next to each other in the batch order."""
    batch = similarity_batch(batch_id, write=True)
    members = _members(batch, key)
    first, last = review.place_together(get_db(), batch, members, current_user.id)
    members = review.group_members(get_db(), batch_id, [m["id"] for m in members])
    return render_template("similarity/_group_detail.html", **card_context(
        batch, members, f"Placed together at positions {first}–{last} of the batch."))


@bp.route("/<int:batch_id>/similarity/group/<key>/dismiss", methods=("POST",))
@login_required
def dismiss(batch_id, key):
    """Not duplicates: the whole group, or one member (form field 'member') against the rest."""
    batch = similarity_batch(batch_id, write=True)
    members = _members(batch, key)
    member = request.form.get("member", type=int)
    if member is not None and member not in {m["id"] for m in members}:
        abort(404)
    review.dismiss(get_db(), batch, members, current_user.id, member)
    if member is None:
        return render_template("similarity/_dismissed.html", batch=batch, members=members)
    rest = [m for m in members if m["id"] != member]
    return render_template("similarity/_group_detail.html", **card_context(
        batch, rest, "Marked as not a duplicate; it stays out of this group in later runs."))


@bp.route("/<int:batch_id>/similarity/dismissals")
@login_required
def dismissals(batch_id):
    """Every "not duplicates" decision that concerns this batch, with undo."""
    batch = similarity_batch(batch_id)
    return render_template("similarity/_dismissals.html", batch=batch, writable=can_write(batch),
                           rows=qr.dismissals_in_batch(get_db(), batch["archive_id"], batch_id))


@bp.route("/<int:batch_id>/similarity/dismissals/undo", methods=("POST",))
@login_required
def undo_dismissal(batch_id):
    """Forget one "not duplicates" decision."""
    batch = similarity_batch(batch_id, write=True)
    conn = get_db()
    review.undo_dismissal(conn, batch, request.form.get("sha_a", ""), request.form.get("sha_b", ""), current_user.id)
    return dismissals(batch_id)


@bp.route("/<int:batch_id>/similarity/group/<key>/compare")
@login_required
def compare(batch_id, key):
    """Archival and EXIF fields of the members side by side, differences marked."""
    batch = similarity_batch(batch_id)
    context = card_context(batch, _members(batch, key))
    return render_template("similarity/_compare.html", rows=review.compare_rows(context["members"]),
                           copyable=review.COPYABLE, **context)


@bp.route("/<int:batch_id>/similarity/group/<key>/side-by-side")
@login_required
def side_by_side(batch_id, key):
    """Two members in labelled panes that zoom and pan together: the two ticked, else the keeper and another."""
    batch = similarity_batch(batch_id)
    context = card_context(batch, _members(batch, key))
    return render_template("similarity/_side_by_side.html", panes=review.side_by_side_pair(
        context["members"], context["keep_id"], _ticked()), **context)


def _ticked():
    try:
        return {int(v) for v in request.values.getlist("item")}
    except ValueError:
        abort(400)


@bp.route("/<int:batch_id>/similarity/group/<key>/copy", methods=("POST",))
@login_required
def copy_value(batch_id, key):
    """Copy one field's value from a member to another (usually the keeper)."""
    batch = similarity_batch(batch_id, write=True)
    members = _members(batch, key)
    form = request.form
    try:
        review.copy_field(get_db(), batch, members, form.get("field", ""), form.get("source", type=int),
                          form.get("target", type=int), current_user.id, form.get("mode"))
    except review.NeedsChoice as existing:
        return render_template("similarity/_copy_choice.html", batch=batch, key=key, field=form["field"],
                               source=form["source"], target=form["target"], existing=str(existing),
                               value=existing.value)
    except (ValueError, StopIteration):
        abort(422, "That value cannot be copied.")
    return compare(batch_id, key)
