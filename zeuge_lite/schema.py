"""Schema migrations: entry N brings a database from user_version N to N+1. Never edit a shipped entry."""

FOUNDATION = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE archives (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    plan TEXT NOT NULL DEFAULT 'free',
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE memberships (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    archive_id INTEGER NOT NULL REFERENCES archives(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'archivist', 'viewer')),
    PRIMARY KEY (user_id, archive_id)
);
CREATE TABLE batches (
    id INTEGER PRIMARY KEY,
    archive_id INTEGER NOT NULL REFERENCES archives(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    order_version INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX batches_archive ON batches(archive_id);
CREATE TABLE files (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    ext TEXT NOT NULL,
    format TEXT NOT NULL,
    mode TEXT NOT NULL,
    bit_depth INTEGER,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    dpi INTEGER,
    frames INTEGER NOT NULL DEFAULT 1,
    taken_at TEXT,
    camera TEXT,
    orientation INTEGER,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL REFERENCES files(sha256),
    filename TEXT NOT NULL,
    position INTEGER NOT NULL,
    uploader_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    title TEXT NOT NULL DEFAULT '',
    date TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    creator TEXT NOT NULL DEFAULT '',
    contributor TEXT NOT NULL DEFAULT '',
    rights TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    accession_number TEXT NOT NULL DEFAULT ''
);
CREATE INDEX items_batch_position ON items(batch_id, position);
CREATE INDEX items_sha256 ON items(sha256);
CREATE TABLE responses (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX responses_item ON responses(item_id)
"""

SIMILARITY = """
CREATE TABLE features (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL REFERENCES files(sha256) ON DELETE CASCADE,
    model TEXT NOT NULL,
    hashes BLOB,
    turns BLOB,
    error TEXT,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    UNIQUE (sha256, model)
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    stage TEXT NOT NULL DEFAULT 'waiting for a worker',
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    computed INTEGER NOT NULL DEFAULT 0,
    failed_items INTEGER NOT NULL DEFAULT 0,
    params TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    started_at TEXT,
    heartbeat_at TEXT,
    finished_at TEXT
);
CREATE UNIQUE INDEX runs_one_active_per_batch ON runs(batch_id) WHERE status IN ('queued', 'running');
CREATE INDEX runs_batch ON runs(batch_id, id);
CREATE TABLE pairs (
    model TEXT NOT NULL,
    a_item INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    b_item INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    batch_id INTEGER NOT NULL REFERENCES batches(id) ON DELETE CASCADE,
    cosine REAL NOT NULL,
    hash_distance INTEGER NOT NULL,
    same_file INTEGER NOT NULL,
    turned INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (model, a_item, b_item)
);
CREATE INDEX pairs_batch ON pairs(batch_id, model);
CREATE INDEX pairs_b_item ON pairs(b_item);
CREATE TABLE item_scores (
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    nearest REAL NOT NULL,
    nearest_item INTEGER REFERENCES items(id) ON DELETE SET NULL,
    uniqueness REAL NOT NULL,
    PRIMARY KEY (item_id, model)
)
"""

REVIEW = """
CREATE TABLE dismissals (
    archive_id INTEGER NOT NULL REFERENCES archives(id) ON DELETE CASCADE,
    sha_a TEXT NOT NULL,
    sha_b TEXT NOT NULL,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (archive_id, sha_a, sha_b),
    CHECK (sha_a < sha_b)
);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    archive_id INTEGER NOT NULL REFERENCES archives(id) ON DELETE CASCADE,
    batch_id INTEGER,
    user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    items TEXT NOT NULL DEFAULT '[]',
    group_key TEXT,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX audit_archive ON audit_log(archive_id, id)
"""

SHARPNESS = """
ALTER TABLE files ADD COLUMN sharpness REAL
"""

# Features become upright + canonical views (one model pass instead of four turns) and the default model
# becomes the int8 graph: cached features and the results built on them are cleared, the next run recomputes.
VIEWS = """
DROP TRIGGER IF EXISTS vec_efficientnet_lite0_forget;
DROP TRIGGER IF EXISTS vec_clip_vit_b32_forget;
DROP TABLE IF EXISTS vec_efficientnet_lite0;
DROP TABLE IF EXISTS vec_clip_vit_b32;
DELETE FROM features;
DELETE FROM pairs;
DELETE FROM item_scores;
DELETE FROM runs;
ALTER TABLE features RENAME COLUMN turns TO views
"""

# Logins become rows a user can revoke (logout, log out everywhere, password change): the session cookie
# carries a random token whose sha256 is stored here, never the user id. Workers report signs of life so the
# page can say when none is running.
SESSIONS = """
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE TABLE workers (
    name TEXT PRIMARY KEY,
    started_at TEXT NOT NULL DEFAULT (datetime('now')),
    seen_at TEXT NOT NULL DEFAULT (datetime('now'))
)
"""

# Pages cache a batch's groups instead of regrouping every stored pair on every request. A cached result is
# valid while these counters stand still; triggers bump them on every change groups depend on (pairs written
# or deleted, items deleted with their pairs, "not duplicates" decisions), whichever code path makes it.
# The Similarity tab lists unreadable files on every view: a partial index finds those few rows without
# reading every features row (its views blob lies before the error column).
GENERATIONS = """
CREATE INDEX features_errors ON features(model, sha256) WHERE error IS NOT NULL;
ALTER TABLE batches ADD COLUMN groups_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE archives ADD COLUMN dismissals_generation INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER pairs_added AFTER INSERT ON pairs BEGIN
    UPDATE batches SET groups_generation = groups_generation + 1 WHERE id = NEW.batch_id;
END;
CREATE TRIGGER pairs_changed AFTER UPDATE ON pairs BEGIN
    UPDATE batches SET groups_generation = groups_generation + 1 WHERE id IN (OLD.batch_id, NEW.batch_id);
END;
CREATE TRIGGER pairs_removed AFTER DELETE ON pairs BEGIN
    UPDATE batches SET groups_generation = groups_generation + 1 WHERE id = OLD.batch_id;
END;
CREATE TRIGGER items_removed AFTER DELETE ON items BEGIN
    UPDATE batches SET groups_generation = groups_generation + 1 WHERE id = OLD.batch_id;
END;
CREATE TRIGGER dismissals_added AFTER INSERT ON dismissals BEGIN
    UPDATE archives SET dismissals_generation = dismissals_generation + 1 WHERE id = NEW.archive_id;
END;
CREATE TRIGGER dismissals_removed AFTER DELETE ON dismissals BEGIN
    UPDATE archives SET dismissals_generation = dismissals_generation + 1 WHERE id = OLD.archive_id;
END
"""

# Deleting moves items to the archive's trash: their rows leave `items` (so no list, group, export or count
# has to filter them) and wait here, with their metadata and responses, until restored or purged. Their files
# stay until purge, and so do their compared pairs and scores, so that a restored item is back in its groups at
# once. item_id is the id they get back if it is still free; when their batch is deleted, batch_id
# becomes NULL (a new batch may get that id) and deleted_batch keeps it, so that entries of one deleted batch
# are restored into one new batch.
TRASH = """
CREATE TABLE trash (
    id INTEGER PRIMARY KEY,
    archive_id INTEGER NOT NULL REFERENCES archives(id) ON DELETE CASCADE,
    batch_id INTEGER,
    deleted_batch INTEGER,
    batch_name TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    sha256 TEXT NOT NULL REFERENCES files(sha256),
    filename TEXT NOT NULL,
    item TEXT NOT NULL,
    responses TEXT NOT NULL DEFAULT '[]',
    pairs TEXT NOT NULL DEFAULT '[]',
    scores TEXT NOT NULL DEFAULT '[]',
    trashed_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    trashed_at TEXT NOT NULL DEFAULT (datetime('now')),
    expires_at TEXT NOT NULL
);
CREATE INDEX trash_archive ON trash(archive_id, id);
CREATE INDEX trash_expires ON trash(expires_at);
CREATE INDEX trash_sha256 ON trash(sha256)
"""

# Geometric verification (issue 11): a first-pass hint that a content may be a page of text; each pair's
# verification result next to it, so regrouping needs no matching; per-content records and per-content-pair
# results cached by version, so re-runs compute neither again. A NULL hint (older features) counts as a page.
PAGES = """
ALTER TABLE features ADD COLUMN page_hint INTEGER;
ALTER TABLE pairs ADD COLUMN verified INTEGER;
ALTER TABLE pairs ADD COLUMN inliers INTEGER;
ALTER TABLE pairs ADD COLUMN coverage REAL;
ALTER TABLE pairs ADD COLUMN text_pair INTEGER NOT NULL DEFAULT 0;
CREATE TABLE page_records (
    sha256 TEXT NOT NULL REFERENCES files(sha256) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    record BLOB NOT NULL,
    PRIMARY KEY (sha256, version)
);
CREATE TABLE pair_checks (
    sha_a TEXT NOT NULL REFERENCES files(sha256) ON DELETE CASCADE,
    sha_b TEXT NOT NULL REFERENCES files(sha256) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    verified INTEGER NOT NULL,
    inliers INTEGER NOT NULL,
    coverage REAL,
    text_pair INTEGER NOT NULL,
    PRIMARY KEY (sha_a, sha_b, version),
    CHECK (sha_a < sha_b)
);
CREATE INDEX pair_checks_b ON pair_checks(sha_b)
"""

# "Exact copy" needs equal pixels (similarity/exact.py), not only equal hashes. Pairs stored before have no
# answer (NULL) and show as near-duplicates, the honest label, until their items are compared again.
EXACT = """
ALTER TABLE pairs ADD COLUMN pixel_equal INTEGER
"""

# An audit entry can carry what undoes it (a copied field's old value, the trash entries of a delete) and
# when it was undone.
AUDIT_UNDO = """
ALTER TABLE audit_log ADD COLUMN undo TEXT;
ALTER TABLE audit_log ADD COLUMN undone_at TEXT
"""

# Embedded metadata (issue 13): read once per file at upload (JSON of metadata.embedded.FIELDS; NULL for files
# stored before: they show none), an item's XMP sidecar fields,
# which archival fields were filled from the file and with what ({field: value}), and the batch setting that
# fills empty archival fields on upload (on by default).
EMBEDDED = """
ALTER TABLE files ADD COLUMN embedded TEXT;
ALTER TABLE items ADD COLUMN sidecar TEXT;
ALTER TABLE items ADD COLUMN filled TEXT NOT NULL DEFAULT '{}';
ALTER TABLE batches ADD COLUMN fill_from_file INTEGER NOT NULL DEFAULT 1
"""

# One truth for size (issue 13): files.width x height is the size as displayed, after EXIF orientation, as the
# scan, the preview and other viewers say; files stored before held the stored (sensor) size. SQLite's UPDATE
# reads the old row on the right-hand side, so this swaps.
DISPLAYED_SIZE = """
UPDATE files SET width = height, height = width WHERE orientation IN (5, 6, 7, 8)
"""

# Blank and plain pages (issue 13): flagged at upload (similarity/plain.py); never joined by hash or embedding,
# listed apart. NULL: stored before, not known (treated as not plain). Their sharpness becomes 0.
PLAIN = """
ALTER TABLE files ADD COLUMN plain INTEGER
"""

# Instance administrators and the way to Pro (issue 9 §5), invitations instead of adding people unasked
# (issue 14). The first user of an existing instance becomes its administrator, as the first registered user
# of a new one does. One pending upgrade request per archive; an invitation carries a token's sha256 (the link
# holds the token) and, when addressed, the e-mail address whose account sees it after logging in.
ADMINS = """
ALTER TABLE users ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0;
UPDATE users SET is_admin = 1 WHERE id = (SELECT min(id) FROM users);
CREATE TABLE upgrade_requests (
    id INTEGER PRIMARY KEY,
    archive_id INTEGER NOT NULL REFERENCES archives(id) ON DELETE CASCADE,
    plan TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    requested_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'granted', 'declined')),
    decided_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    decided_at TEXT
);
CREATE UNIQUE INDEX upgrade_requests_one_pending ON upgrade_requests(archive_id) WHERE status = 'pending';
CREATE TABLE invitations (
    id INTEGER PRIMARY KEY,
    archive_id INTEGER NOT NULL REFERENCES archives(id) ON DELETE CASCADE,
    email TEXT COLLATE NOCASE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'archivist', 'viewer')),
    token_hash TEXT NOT NULL UNIQUE,
    invited_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    expires_at TEXT NOT NULL
);
CREATE INDEX invitations_archive ON invitations(archive_id);
CREATE INDEX invitations_email ON invitations(email)
"""

# Views are stored as float16 (2 bytes a value) from here; the rows stored before keep their float32 (4).
HALF_VIEWS = """
ALTER TABLE features ADD COLUMN view_bytes INTEGER NOT NULL DEFAULT 4
"""

# Pillow reports a TIFF's size already turned by its orientation: DISPLAYED_SIZE and the uploads after it
# turned TIFFs of orientation 5-8 a second time.
TIFF_TURNED_SIZE = """
UPDATE files SET width = height, height = width WHERE format = 'TIFF' AND orientation IN (5, 6, 7, 8)
"""

MIGRATIONS = [FOUNDATION, SIMILARITY, REVIEW, SHARPNESS, VIEWS, SESSIONS, GENERATIONS, TRASH, PAGES, EXACT,
              AUDIT_UNDO, EMBEDDED, DISPLAYED_SIZE, PLAIN, ADMINS, HALF_VIEWS, TIFF_TURNED_SIZE]
