"""Archive membership checks: anything outside the user's archives is a 404, viewers cannot write."""
from flask import abort
from flask_login import current_user

from zeuge_lite import queries
from zeuge_lite.db import get_db

WRITER_ROLES = ("owner", "archivist")


def _checked(row, write):
    if row is None:
        abort(404)
    if write and row["role"] not in WRITER_ROLES:
        abort(403, "Viewers can look but not change anything in this archive.")
    return row


def archive_or_404(archive_id, write=False):
    """The archive (with the user's role) if the current user is a member."""
    return _checked(queries.archive_for_member(get_db(), archive_id, current_user.id), write)


def batch_or_404(batch_id, write=False):
    """The batch (with plan and role) if the current user is a member of its archive."""
    return _checked(queries.batch_for_member(get_db(), batch_id, current_user.id), write)


def item_or_404(item_id, write=False):
    """The item (with file data, plan and role) if the current user is a member of its archive."""
    return _checked(queries.item_for_member(get_db(), item_id, current_user.id), write)


def can_write(row):
    """True if the user's role on this row's archive may change things."""
    return row["role"] in WRITER_ROLES
