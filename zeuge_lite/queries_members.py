"""All SQL of invitations to an archive. No Flask here."""


def add_invitation(conn, archive_id, email, role, token_hash, user_id, days):
    """Record an invitation (email None: a link only) that lasts `days` days; return its id."""
    return conn.execute(
        "INSERT INTO invitations (archive_id, email, role, token_hash, invited_by, expires_at) "
        "VALUES (?, ?, ?, ?, ?, datetime('now', ?))",
        (archive_id, email, role, token_hash, user_id, f"+{int(days)} days")).lastrowid


def delete_invitations_to(conn, archive_id, email):
    """Forget an archive's invitations to an address (a new one replaces them)."""
    conn.execute("DELETE FROM invitations WHERE archive_id = ? AND email = ?", (archive_id, email))


_LIVE = ("SELECT i.*, a.name AS archive_name, u.name AS invited_by_name FROM invitations i "
         "JOIN archives a ON a.id = i.archive_id LEFT JOIN users u ON u.id = i.invited_by "
         "WHERE i.expires_at > datetime('now') ")


def invitations_of_archive(conn, archive_id):
    """An archive's invitations that have not expired, newest first."""
    return conn.execute(_LIVE + "AND i.archive_id = ? ORDER BY i.id DESC", (archive_id,)).fetchall()


def invitations_for_user(conn, user_id):
    """Invitations addressed to a user's e-mail address that have not expired, newest first; by_address: the
    account is not younger than the invitation (nothing checks who registers an address: a younger account
    needs the link)."""
    return conn.execute(
        "SELECT i.*, a.name AS archive_name, u.name AS invited_by_name, me.created_at <= i.created_at AS by_address "
        "FROM users me JOIN invitations i ON i.email = me.email JOIN archives a ON a.id = i.archive_id "
        "LEFT JOIN users u ON u.id = i.invited_by WHERE me.id = ? AND i.expires_at > datetime('now') "
        "ORDER BY i.id DESC", (user_id,)).fetchall()


def invitation_by_id(conn, invitation_id):
    """One invitation that has not expired, or None."""
    return conn.execute(_LIVE + "AND i.id = ?", (invitation_id,)).fetchone()


def invitation_by_token(conn, token_hash):
    """The invitation a link's token opens, if it has not expired, or None."""
    return conn.execute(_LIVE + "AND i.token_hash = ?", (token_hash,)).fetchone()


def delete_invitation(conn, invitation_id):
    """Remove an invitation (accepted, declined or revoked); return whether it was there."""
    return conn.execute("DELETE FROM invitations WHERE id = ?", (invitation_id,)).rowcount == 1



def delete_expired_invitations(conn):
    """Forget invitations that have expired."""
    conn.execute("DELETE FROM invitations WHERE expires_at <= datetime('now')")
