"""All SQL of instance administration: administrators, every archive's overview, upgrade requests. No Flask."""


def user_count(conn):
    """How many accounts the instance has."""
    return conn.execute("SELECT count(*) FROM users").fetchone()[0]


def set_admin(conn, user_id, on):
    """Make a user an instance administrator, or stop them being one."""
    conn.execute("UPDATE users SET is_admin = ? WHERE id = ?", (int(bool(on)), user_id))


def admins(conn):
    """The instance's administrators (id, name, e-mail), by name."""
    return conn.execute("SELECT id, name, email FROM users WHERE is_admin = 1 ORDER BY name, id").fetchall()


def archives_overview(conn):
    """Every archive with its plan, its owners' names, batch and item counts and pending request, by name."""
    return conn.execute(
        "SELECT a.id, a.name, a.plan, a.created_at, "
        "(SELECT group_concat(name, ', ') FROM (SELECT u.name FROM memberships m JOIN users u ON u.id = m.user_id "
        " WHERE m.archive_id = a.id AND m.role = 'owner' ORDER BY u.name)) AS owners, "
        "(SELECT count(*) FROM batches b WHERE b.archive_id = a.id) AS batch_count, "
        "(SELECT count(*) FROM items i JOIN batches b ON b.id = i.batch_id WHERE b.archive_id = a.id) AS item_count, "
        "(SELECT r.id FROM upgrade_requests r WHERE r.archive_id = a.id AND r.status = 'pending') AS pending_request "
        "FROM archives a ORDER BY a.name COLLATE NOCASE, a.id").fetchall()


def add_upgrade_request(conn, archive_id, plan, note, user_id):
    """Record a pending request for a plan; the unique index refuses a second pending one for the archive."""
    return conn.execute("INSERT INTO upgrade_requests (archive_id, plan, note, requested_by) VALUES (?, ?, ?, ?)",
                        (archive_id, plan, note, user_id)).lastrowid


_REQUEST = ("SELECT r.*, a.name AS archive_name, a.plan AS current_plan, u.name AS requested_by_name, "
            "u.email AS requested_by_email FROM upgrade_requests r JOIN archives a ON a.id = r.archive_id "
            "LEFT JOIN users u ON u.id = r.requested_by ")


def pending_request(conn, archive_id):
    """An archive's pending upgrade request with the requester's name, or None."""
    return conn.execute(_REQUEST + "WHERE r.archive_id = ? AND r.status = 'pending'", (archive_id,)).fetchone()


def upgrade_request(conn, request_id):
    """One upgrade request with its archive's name and plan, or None."""
    return conn.execute(_REQUEST + "WHERE r.id = ?", (request_id,)).fetchone()


def pending_requests(conn):
    """Every pending upgrade request, oldest first."""
    return conn.execute(_REQUEST + "WHERE r.status = 'pending' ORDER BY r.id").fetchall()


def decide_request(conn, request_id, status, user_id):
    """Close a pending request as granted or declined; return whether it was still pending."""
    return conn.execute("UPDATE upgrade_requests SET status = ?, decided_by = ?, decided_at = datetime('now') "
                        "WHERE id = ? AND status = 'pending'", (status, user_id, request_id)).rowcount == 1

