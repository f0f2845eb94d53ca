"""Who belongs to an archive: invitations the person accepts (or a link the owner hands over), roles, removal,
leaving, new and renamed archives. Each change is written to the archive's audit log in the same transaction.
Messages never name anyone who has not accepted. No Flask here."""
import secrets

from zeuge_lite import queries
from zeuge_lite import queries_members as qm
from zeuge_lite import queries_review as qr
from zeuge_lite.db import transaction
from zeuge_lite.sessions import token_hash

ROLES = ("owner", "archivist", "viewer")
INVITATION_DAYS = 14
NAME_LENGTH = 200


class MembershipError(Exception):
    """A change that cannot be made as asked; the message says why."""


def _role(role):
    if role not in ROLES:
        raise MembershipError("Choose a role: owner, archivist or viewer.")
    return role


def _whom(invitation):
    return f"the invitation for {invitation['email']}" if invitation["email"] else "an invitation link"


def invite(conn, archive_id, email, role, user_id):
    """Invite an e-mail address (or, without one, whoever gets the link) to a role; return the link's token."""
    email = (email or "").strip() or None
    if email is not None and ("@" not in email or len(email) > 254):
        raise MembershipError("Enter a valid e-mail address, or leave it empty for a link only.")
    _role(role)
    token = secrets.token_urlsafe(24)
    with transaction(conn):
        if email and any(m["email"].lower() == email.lower() for m in queries.members_of_archive(conn, archive_id)):
            raise MembershipError(f"{email} belongs to this archive already: change their role in the table.")
        qm.delete_expired_invitations(conn)  # here, so that no job is needed to keep the table small
        if email:
            qm.delete_invitations_to(conn, archive_id, email)
        qm.add_invitation(conn, archive_id, email, role, token_hash(token), user_id, INVITATION_DAYS)
        detail = f"invited {email} as {role}" if email else f"made an invitation link for a new {role}"
        qr.log_action(conn, archive_id, None, user_id, "invite", detail, [])
    return token


def invitation_from_link(conn, token):
    """The invitation a link's token opens, or None."""
    return qm.invitation_by_token(conn, token_hash(token))


def invitation_for(conn, invitation_id, user_id):
    """An invitation this user may answer by their e-mail address alone, or None: addressed to it, and made when
    the account existed already. Nothing proves that an address belongs to whoever registers it, so an account
    registered after the invitation answers it with its link, which the owner hands over."""
    return next((i for i in qm.invitations_for_user(conn, user_id) if i["id"] == invitation_id and i["by_address"]),
                None)


def accept(conn, invitation, user):
    """Join the invitation's archive with its role; return False if the user belonged to it already."""
    with transaction(conn):
        if not qm.delete_invitation(conn, invitation["id"]):
            raise MembershipError("This invitation was withdrawn or used already.")
        if queries.archive_for_member(conn, invitation["archive_id"], user["id"]) is not None:
            return False
        queries.add_member(conn, invitation["archive_id"], user["id"], invitation["role"])
        qr.log_action(conn, invitation["archive_id"], None, user["id"], "join",
                      f"{user['name']} accepted {_whom(invitation)} and joined as {invitation['role']}", [])
    return True


def decline(conn, invitation):
    """Turn an invitation down; the log names the address the owner typed, never the account that declined."""
    with transaction(conn):
        if qm.delete_invitation(conn, invitation["id"]):
            qr.log_action(conn, invitation["archive_id"], None, None, "invitation declined",
                          f"{_whom(invitation)} ({invitation['role']}) was declined", [])


def withdraw(conn, archive_id, invitation_id, user_id):
    """Withdraw one of the archive's invitations (owners)."""
    with transaction(conn):
        invitation = qm.invitation_by_id(conn, invitation_id)
        if invitation is None or invitation["archive_id"] != archive_id:
            raise MembershipError("That invitation was used, withdrawn or has expired.")
        qm.delete_invitation(conn, invitation_id)
        qr.log_action(conn, archive_id, None, user_id, "invitation withdrawn",
                      f"withdrew {_whom(invitation)} ({invitation['role']})", [])


def _member(conn, archive_id, user_id):
    member = next((m for m in queries.members_of_archive(conn, archive_id) if m["id"] == user_id), None)
    if member is None:
        raise MembershipError("That person does not belong to this archive (any more).")
    return member


def _keep_an_owner(conn, archive_id, member, new_role=None):
    if member["role"] == "owner" and new_role != "owner" and queries.owner_count(conn, archive_id) <= 1:
        raise MembershipError("An archive needs at least one owner: make someone else owner first.")


def change_role(conn, archive_id, member_id, role, user_id):
    """Give a member another role; the last owner stays owner."""
    _role(role)
    with transaction(conn):
        member = _member(conn, archive_id, member_id)
        _keep_an_owner(conn, archive_id, member, role)
        if member["role"] != role:
            queries.add_member(conn, archive_id, member_id, role)
            qr.log_action(conn, archive_id, None, user_id, "role",
                          f"changed the role of {member['name']} from {member['role']} to {role}", [])
    return member


def remove(conn, archive_id, member_id, user_id):
    """Take a member out of the archive; the last owner stays."""
    with transaction(conn):
        member = _member(conn, archive_id, member_id)
        _keep_an_owner(conn, archive_id, member)
        queries.remove_member(conn, archive_id, member_id)
        qr.log_action(conn, archive_id, None, user_id, "member removed",
                      f"removed {member['name']} ({member['role']}) from the archive", [])
    return member


def leave(conn, archive_id, user_id):
    """Leave an archive; the last owner cannot."""
    with transaction(conn):
        member = _member(conn, archive_id, user_id)
        _keep_an_owner(conn, archive_id, member)
        queries.remove_member(conn, archive_id, user_id)
        qr.log_action(conn, archive_id, None, user_id, "left",
                      f"{member['name']} left the archive (was {member['role']})", [])


def _name(name):
    name = (name or "").strip()
    if not name:
        raise MembershipError("Give the archive a name.")
    return name[:NAME_LENGTH]


def create_archive(conn, name, user_id):
    """A new archive (free plan) with the user as its owner; return its id."""
    name = _name(name)
    with transaction(conn):
        archive_id = queries.create_archive(conn, name)
        queries.add_member(conn, archive_id, user_id, "owner")
        qr.log_action(conn, archive_id, None, user_id, "archive created", f"created the archive “{name}”", [])
    return archive_id


def rename(conn, archive_id, name, user_id):
    """Rename an archive."""
    name = _name(name)
    with transaction(conn):
        old = queries.archive_by_id(conn, archive_id)["name"]
        if old != name:
            queries.rename_archive(conn, archive_id, name)
            qr.log_action(conn, archive_id, None, user_id, "rename", f"renamed the archive from “{old}” to “{name}”",
                          [])
    return name
