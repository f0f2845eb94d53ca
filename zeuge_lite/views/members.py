"""Who belongs to an archive: owners invite (by e-mail or with a link), change roles and remove members; the
invited accept or decline; members leave. The owner's messages name no one who has not accepted."""
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from zeuge_lite import members
from zeuge_lite.access import archive_or_404
from zeuge_lite.auth import limiter
from zeuge_lite.db import get_db
from zeuge_lite.views.archives import owner_archive

bp = Blueprint("members", __name__)


def _back(archive_id):
    return redirect(url_for("archives.show", archive_id=archive_id) + "#members", 303)


@bp.route("/archives/<int:archive_id>/invitations", methods=("POST",))
@login_required
@limiter.limit(lambda: current_app.config["LOGIN_LIMITS"])  # invitations are not for sending in bulk
def invite(archive_id):
    """Invite someone by e-mail, or make a link to hand over (owners only); the same answer for any address."""
    owner_archive(archive_id)
    email = request.form.get("email", "").strip()
    try:
        token = members.invite(get_db(), archive_id, email, request.form.get("role", ""), current_user.id)
    except members.MembershipError as exc:
        flash(str(exc), "error")
        return _back(archive_id)
    link = url_for("members.link", token=token, _external=True)
    whom = (f"If {email} has an account here, they see the invitation after logging in and can accept it. "
            "Someone who registers that address from now on needs the link to accept: nothing here checks who "
            "owns an address." if email else "Whoever opens the link while logged in can accept it.")
    flash(f"Invitation saved. {whom} You can also hand over this link (valid for {members.INVITATION_DAYS} days, "
          f"shown only now): {link}")
    return _back(archive_id)


@bp.route("/archives/<int:archive_id>/invitations/<int:invitation_id>/withdraw", methods=("POST",))
@login_required
def withdraw(archive_id, invitation_id):
    """Withdraw an invitation that was not used yet (owners only)."""
    owner_archive(archive_id)
    try:
        members.withdraw(get_db(), archive_id, invitation_id, current_user.id)
        flash("Invitation withdrawn: its link no longer works.")
    except members.MembershipError as exc:
        flash(str(exc), "error")
    return _back(archive_id)


@bp.route("/archives/<int:archive_id>/members/<int:user_id>/role", methods=("POST",))
@login_required
def change_role(archive_id, user_id):
    """Give a member another role (owners only; the last owner stays owner)."""
    owner_archive(archive_id)
    try:
        member = members.change_role(get_db(), archive_id, user_id, request.form.get("role", ""), current_user.id)
        flash(f"{member['name']} is now {request.form['role']} of this archive.")
    except members.MembershipError as exc:
        flash(str(exc), "error")
    return _back(archive_id)


@bp.route("/archives/<int:archive_id>/members/<int:user_id>/remove", methods=("POST",))
@login_required
def remove(archive_id, user_id):
    """Take a member out of the archive (owners only; the last owner stays)."""
    owner_archive(archive_id)
    try:
        member = members.remove(get_db(), archive_id, user_id, current_user.id)
        flash(f"{member['name']} no longer belongs to this archive.")
    except members.MembershipError as exc:
        flash(str(exc), "error")
    return _back(archive_id)


@bp.route("/archives/<int:archive_id>/leave", methods=("POST",))
@login_required
def leave(archive_id):
    """Leave an archive (any member but its last owner)."""
    archive = archive_or_404(archive_id)
    try:
        members.leave(get_db(), archive_id, current_user.id)
    except members.MembershipError as exc:
        flash(str(exc), "error")
        return redirect(url_for("archives.show", archive_id=archive_id) + "#leave", 303)
    flash(f"You left “{archive['name']}”.")
    return redirect(url_for("archives.home"), 303)


def _addressed(invitation_id):
    """An invitation the current user may answer by e-mail address (404 for anyone else's)."""
    invitation = members.invitation_for(get_db(), invitation_id, current_user.id)
    if invitation is None:
        abort(404)
    return invitation


def _linked(token):
    invitation = members.invitation_from_link(get_db(), token)
    if invitation is None:
        abort(404, "This invitation link was used, withdrawn or has expired. Ask the archive's owner for a new one.")
    return invitation


def _accept(invitation):
    try:
        joined = members.accept(get_db(), invitation, {"id": current_user.id, "name": current_user.name})
    except members.MembershipError as exc:
        flash(str(exc), "error")
        return redirect(url_for("archives.home"), 303)
    flash(f"You joined “{invitation['archive_name']}” as {invitation['role']}." if joined else
          f"You belong to “{invitation['archive_name']}” already; your role there is unchanged.")
    return redirect(url_for("archives.show", archive_id=invitation["archive_id"]), 303)


def _decline(invitation):
    members.decline(get_db(), invitation)
    flash(f"Invitation to “{invitation['archive_name']}” declined.")
    return redirect(url_for("archives.home"), 303)


@bp.route("/invitations/<int:invitation_id>/accept", methods=("POST",))
@login_required
def accept(invitation_id):
    """Accept an invitation addressed to the user's e-mail address."""
    return _accept(_addressed(invitation_id))


@bp.route("/invitations/<int:invitation_id>/decline", methods=("POST",))
@login_required
def decline(invitation_id):
    """Decline an invitation addressed to the user's e-mail address."""
    return _decline(_addressed(invitation_id))


@bp.route("/join/<token>")
@login_required
def link(token):
    """An invitation link: what it invites to, with accept and decline (nothing changes until one is pressed)."""
    return render_template("archives/invitation.html", invitation=_linked(token), token=token)


@bp.route("/join/<token>", methods=("POST",))
@login_required
def answer_link(token):
    """Accept or decline the invitation a link opens."""
    answer = request.form.get("answer")
    if answer not in ("accept", "decline"):
        abort(400, "Choose Accept or Decline.")
    invitation = _linked(token)
    return _accept(invitation) if answer == "accept" else _decline(invitation)
