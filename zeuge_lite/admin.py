"""Instance administration: who administers, each archive's plan, upgrade requests. Every change is written to
the archive's audit log in the same transaction. No Flask here."""
from zeuge_lite import queries
from zeuge_lite import queries_admin as qa
from zeuge_lite import queries_review as qr
from zeuge_lite.db import IntegrityError, transaction
from zeuge_lite.plans import PLANS, plan_allows_similarity

NOTE_LENGTH = 500


class AdminError(Exception):
    """A request that cannot be done as asked; the message says why, for the person who asked."""


def title(plan):
    """A plan's display name ("Pro"), or the key itself for a plan this version does not know."""
    return PLANS.get(plan, {"title": plan})["title"]


def make_first_user_admin(conn, user_id):
    """The instance's first account becomes its administrator (call inside the registering transaction)."""
    if qa.user_count(conn) == 1:
        qa.set_admin(conn, user_id, True)


def set_admin(conn, email, on=True):
    """Make the account with this e-mail an administrator (or not); return its row."""
    with transaction(conn):
        user = queries.user_by_email(conn, email)
        if user is None:
            raise AdminError(f"No account uses the e-mail address “{email}”. They register first, then run this again.")
        qa.set_admin(conn, user["id"], on)
    return user


def change_plan(conn, archive_id, plan, user_id, how="changed the plan"):
    """Put an archive on a plan, audited; a pending request for that plan counts as granted. Return the archive."""
    if plan not in PLANS:
        raise AdminError(f"There is no plan called “{plan}”.")
    with transaction(conn):
        archive = queries.archive_by_id(conn, archive_id)
        if archive is None:
            raise AdminError("That archive does not exist (any more).")
        if archive["plan"] != plan:
            _set_plan(conn, archive, plan, user_id, f"{how} from {title(archive['plan'])} to {title(plan)}")
    return archive


def _set_plan(conn, archive, plan, user_id, detail):
    queries.set_plan(conn, archive["id"], plan)
    pending = qa.pending_request(conn, archive["id"])
    if pending is not None and pending["plan"] == plan:
        qa.decide_request(conn, pending["id"], "granted", user_id)
        detail += f" (granting the request of {pending['requested_by_name'] or 'a former member'})"
    qr.log_action(conn, archive["id"], None, user_id, "plan", detail, [])


def request_upgrade(conn, archive, user_id, note="", plan="pro"):
    """Ask the administrators to put the archive on `plan`: one pending request per archive, audited."""
    if plan_allows_similarity(archive["plan"]):
        raise AdminError(f"“{archive['name']}” is on the {title(archive['plan'])} plan already.")
    if not qa.admins(conn):
        raise AdminError("This instance has no administrator to ask yet: whoever runs its server makes one with "
                         "`flask zeuge admin EMAIL`.")
    try:
        with transaction(conn):
            _already_asked(qa.pending_request(conn, archive["id"]))
            qa.add_upgrade_request(conn, archive["id"], plan, note.strip()[:NOTE_LENGTH], user_id)
            qr.log_action(conn, archive["id"], None, user_id, "upgrade request",
                          f"asked the administrators for the {title(plan)} plan", [])
    except IntegrityError:  # another request came in at the same moment
        _already_asked(qa.pending_request(conn, archive["id"]))
        raise


def _already_asked(pending):
    if pending is not None:
        raise AdminError(f"An upgrade request for this archive is already waiting for an administrator "
                         f"(sent by {pending['requested_by_name'] or 'a former member'} on "
                         f"{pending['created_at'][:10]}).")


def decide(conn, request_id, grant, user_id):
    """Grant (the archive moves to the plan asked for) or decline a pending request, audited; return it."""
    with transaction(conn):
        asked = qa.upgrade_request(conn, request_id)
        if asked is None or not qa.decide_request(conn, request_id, "granted" if grant else "declined", user_id):
            raise AdminError("That request is not waiting any more: it was decided already.")
        who = asked["requested_by_name"] or "a former member"
        if grant:
            queries.set_plan(conn, asked["archive_id"], asked["plan"])
            detail = (f"granted the request of {who}: the plan changed from {title(asked['current_plan'])} "
                      f"to {title(asked['plan'])}")
        else:
            detail = f"declined the request of {who} for the {title(asked['plan'])} plan"
        qr.log_action(conn, asked["archive_id"], None, user_id, "upgrade granted" if grant else "upgrade declined",
                      detail, [])
    return asked
