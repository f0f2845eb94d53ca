"""All SQL of the similarity engine: features, vec0 tables, runs, pairs, scores. No Flask here."""
import json

import numpy as np

from zeuge_lite.queries import ITEM_COLUMNS, ITEM_JOINS
from zeuge_lite.similarity.embedding import (COARSE_BITS, STORED_VIEW_BYTES, coarse_codes, stored_views,
                                             views_to_store)

ACTIVE = ("queued", "running")
_RUN_COLUMNS = ("status", "stage", "done", "total", "computed", "failed_items", "error")

# --- features and the per-model vec0 tables --------------------------------------------------


VIEW_ROWS = 4  # vec0 rowid = features id * VIEW_ROWS + view index (0 upright, 1-2 canonical turns)


def ensure_vec_table(conn, spec):
    """Create the model's vec0 table of coarse codes and the trigger that keeps it in step with features.

    Upright and canonical views live in separate partitions, so a k-NN search scans only its own kind. A table
    of the earlier layout also held every view as float[dim], which no query reads (11 KB of the 28 KB an item
    took): it is rebuilt once, its codes computed again from the stored views."""
    table = spec.vec_table
    if _holds_float_vectors(conn, table):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if _holds_float_vectors(conn, table):  # another process may have rebuilt it meanwhile
                conn.execute(f"DROP TABLE {table}")
                _create_vec_table(conn, spec)
                _index_stored_views(conn, spec)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    _create_vec_table(conn, spec)


def _holds_float_vectors(conn, table):
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    return row is not None and "float[" in row[0]


def _create_vec_table(conn, spec):
    table = spec.vec_table
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING vec0(canonical integer partition key, "
                 f"coarse bit[{COARSE_BITS}])")
    forget = " ".join(f"DELETE FROM {table} WHERE rowid = old.id * {VIEW_ROWS} + {view};" for view in range(3))
    conn.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_forget AFTER DELETE ON features "
                 f"WHEN old.model = '{spec.name}' BEGIN {forget} END")


def _index_stored_views(conn, spec, chunk=2000):
    """Insert the coarse codes of every stored view of this model, computed in chunks of contents."""
    cursor = conn.execute("SELECT id, views, view_bytes FROM features WHERE model = ? AND views IS NOT NULL",
                          (spec.name,))
    while rows := cursor.fetchmany(chunk):
        views = [(row[0], view, vector) for row in rows for view, vector in
                 _distinct_views(stored_views(row[1], spec.dim, row[2]))]
        codes = coarse_codes(np.stack([vector for _id, _view, vector in views]))
        conn.executemany(_INSERT_CODE.format(table=spec.vec_table),
                         [(feature_id * VIEW_ROWS + view, int(view > 0), code.tobytes())
                          for (feature_id, view, _vector), code in zip(views, codes)])


_INSERT_CODE = "INSERT INTO {table} (rowid, canonical, coarse) VALUES (?, ?, vec_bit(?))"


def shas_missing_features(conn, batch_id, model):
    """Content hashes (with ext) of a batch's items that have no features for this model yet, in batch order."""
    return conn.execute(
        "SELECT i.sha256, f.ext FROM items i JOIN files f ON f.sha256 = i.sha256 "
        "WHERE i.batch_id = ? AND NOT EXISTS (SELECT 1 FROM features x WHERE x.sha256 = i.sha256 "
        "AND x.model = ?) GROUP BY i.sha256 ORDER BY MIN(i.position), MIN(i.id)", (batch_id, model)).fetchall()


def save_features(conn, spec, sha256, features):
    """Store hashes and views of one content, and each distinct view's coarse code in the vec0 table."""
    cur = conn.execute(
        "INSERT INTO features (sha256, model, hashes, views, view_bytes, page_hint) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (sha256, model) DO NOTHING",
        (sha256, spec.name, features.hashes.astype(np.uint64).tobytes(),
         views_to_store(features.vectors).tobytes(), STORED_VIEW_BYTES, int(features.page_hint)))
    if cur.rowcount:
        views = _distinct_views(features.vectors)
        codes = coarse_codes(np.stack([vector for _view, vector in views]))
        conn.executemany(_INSERT_CODE.format(table=spec.vec_table),
                         [(cur.lastrowid * VIEW_ROWS + view, int(view > 0), code.tobytes())
                          for (view, _vector), code in zip(views, codes)])


def _distinct_views(vectors):
    """(view index, float32 vector) of the views, skipping a second canonical view equal to the first."""
    views = [(0, vectors[0]), (1, vectors[1])]
    if len(vectors) > 2 and not np.array_equal(vectors[2], vectors[1]):
        views.append((2, vectors[2]))
    return [(view, np.ascontiguousarray(vector, dtype=np.float32)) for view, vector in views]


def file_is_known(conn, sha256):
    """True while some item still holds this content (its files row exists)."""
    return conn.execute("SELECT 1 FROM files WHERE sha256 = ?", (sha256,)).fetchone() is not None


def save_feature_error(conn, model, sha256, error):
    """Remember that this content cannot be analysed, and why (so a re-run does not retry it)."""
    conn.execute("INSERT INTO features (sha256, model, error) VALUES (?, ?, ?) "
                 "ON CONFLICT (sha256, model) DO NOTHING", (sha256, model, error))


def forget_feature_errors(conn, batch_id, model, prefix):
    """Drop a batch's cached feature errors that start with prefix, so the next analysis tries again."""
    conn.execute("DELETE FROM features WHERE model = ? AND error LIKE ? || '%' "
                 "AND sha256 IN (SELECT sha256 FROM items WHERE batch_id = ?)", (model, prefix, batch_id))


_BATCH_FEATURES = ("FROM items i JOIN features x ON x.sha256 = i.sha256 AND x.model = ? "
                   "WHERE i.batch_id = ? AND x.error IS NULL")


def batch_feature_rows(conn, batch_id, model):
    """(item id, sha256, hashes blob, views blob, view bytes, page hint) of a batch's analysed items, in batch
    order, as a cursor (a large batch's views are read row by row)."""
    return conn.execute(f"SELECT i.id, i.sha256, x.hashes, x.views, x.view_bytes, x.page_hint {_BATCH_FEATURES} "
                        "ORDER BY i.position, i.id", (model, batch_id))


def count_batch_features(conn, batch_id, model):
    """How many rows batch_feature_rows gives."""
    return conn.execute(f"SELECT count(*) {_BATCH_FEATURES}", (model, batch_id)).fetchone()[0]


def batch_feature_errors(conn, batch_id, model):
    """A batch's items whose content could not be analysed, with the reason."""
    return conn.execute(
        # Failed contents first, by their partial index: walking the batch's items would read every features
        # row past its views blob to reach the error column (4 ms at 2,000 items, against 0.01 ms).
        "WITH failed AS MATERIALIZED (SELECT sha256, error FROM features WHERE model = ? AND error IS NOT NULL) "
        "SELECT i.id, i.filename, f.error FROM failed f JOIN items i ON i.sha256 = f.sha256 "
        "WHERE i.batch_id = ? ORDER BY i.position",
        (model, batch_id)).fetchall()


def coarse_neighbours(conn, spec, code, k, canonical):
    """Features ids (one per view found, so possibly repeated) of the k nearest (Hamming) coarse codes among
    upright views (canonical=False) or canonical ones."""
    return [row[0] // VIEW_ROWS for row in conn.execute(
        f"SELECT rowid FROM {spec.vec_table} WHERE coarse MATCH vec_bit(?) AND k = ? AND canonical = ? "
        f"ORDER BY distance", (bytes(code), k, int(canonical)))]


def views_of_features(conn, feature_ids):
    """(features id, views blob, view bytes) for these feature rows."""
    marks = ",".join("?" * len(feature_ids))
    return conn.execute(f"SELECT id, views, view_bytes FROM features WHERE id IN ({marks}) AND views IS NOT NULL",
                        list(feature_ids)).fetchall()


# --- runs ------------------------------------------------------------------------------------


def create_run(conn, batch_id, model, params, user_id):
    """Insert a queued run; raises IntegrityError if the batch has an active run already."""
    return conn.execute("INSERT INTO runs (batch_id, model, params, created_by) VALUES (?, ?, ?, ?)",
                        (batch_id, model, json.dumps(params), user_id)).lastrowid


def run_by_id(conn, run_id):
    """One run row, or None."""
    return conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()


def active_run(conn, batch_id):
    """The batch's queued or running run, or None."""
    return conn.execute("SELECT * FROM runs WHERE batch_id = ? AND status IN ('queued', 'running')",
                        (batch_id,)).fetchone()


def latest_run(conn, batch_id):
    """The batch's most recent run, or None."""
    return conn.execute("SELECT * FROM runs WHERE batch_id = ? ORDER BY id DESC LIMIT 1", (batch_id,)).fetchone()


def start_run(conn, run_id):
    """Move a queued run to running; False if it was cancelled or taken meanwhile."""
    return conn.execute("UPDATE runs SET status = 'running', started_at = datetime('now'), "
                        "heartbeat_at = datetime('now') WHERE id = ? AND status = 'queued'",
                        (run_id,)).rowcount == 1


def update_run(conn, run_id, **values):
    """Set progress columns of a run and beat its heartbeat."""
    names = [name for name in values if name in _RUN_COLUMNS]
    assignments = "".join(f"{name} = ?, " for name in names)
    conn.execute(f"UPDATE runs SET {assignments}heartbeat_at = datetime('now') WHERE id = ?",
                 [values[name] for name in names] + [run_id])


def finish_run(conn, run_id, status, error=None):
    """End a run as done, failed or cancelled."""
    conn.execute("UPDATE runs SET status = ?, error = ?, finished_at = datetime('now'), "
                 "heartbeat_at = datetime('now') WHERE id = ?", (status, error, run_id))


def request_cancel(conn, run_id):
    """Ask a running run to stop; a queued one is cancelled at once."""
    conn.execute("UPDATE runs SET status = 'cancelled', finished_at = datetime('now'), stage = 'cancelled' "
                 "WHERE id = ? AND status = 'queued'", (run_id,))
    conn.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ? AND status = 'running'", (run_id,))


def cancel_requested(conn, run_id):
    """True if someone asked this run to stop."""
    row = conn.execute("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
    return bool(row and row[0])


_HEARTBEAT_AGE = "(julianday('now') - julianday(heartbeat_at)) * 86400"


def beat_runs(conn, run_ids):
    """Beat the heartbeat of runs this worker process is carrying out (it is alive, whatever the stage)."""
    conn.executemany("UPDATE runs SET heartbeat_at = datetime('now') WHERE id = ? AND status = 'running'",
                     [(run_id,) for run_id in run_ids])


def record_worker_seen(conn, name):
    """A worker process says it is alive."""
    conn.execute("INSERT INTO workers (name) VALUES (?) ON CONFLICT (name) DO UPDATE SET seen_at = datetime('now')",
                 (name,))


def forget_old_workers(conn, older_than_s):
    """Drop workers not seen for a long time (restarted processes leave their names behind)."""
    conn.execute("DELETE FROM workers WHERE seen_at < datetime('now', ?)", (f"-{int(older_than_s)} seconds",))


def run_ages(conn, run_id):
    """Seconds since a run was created and last beat, and since any worker was last seen (None if never)."""
    return conn.execute(
        "SELECT (julianday('now') - julianday(created_at)) * 86400 AS created, "
        f"{_HEARTBEAT_AGE} AS heartbeat, "
        "(SELECT (julianday('now') - julianday(max(seen_at))) * 86400 FROM workers) AS worker "
        "FROM runs WHERE id = ?", (run_id,)).fetchone()


def fail_stalled_runs(conn, stale_seconds, reason):
    """Mark running runs without a heartbeat for stale_seconds as failed; return how many.

    The age is reckoned as run_ages reckons it, so what a page shows as failed is what this marks."""
    return conn.execute(
        "UPDATE runs SET status = 'failed', error = ?, finished_at = datetime('now') WHERE status = 'running' "
        f"AND {_HEARTBEAT_AGE} > ?", (reason, float(stale_seconds))).rowcount


# --- pairs and per-item scores ---------------------------------------------------------------


def count_items_new_to_batch(conn, batch_id, model):
    """Items of a batch not compared yet for this model, except contents already known to be unreadable."""
    return conn.execute(
        "SELECT count(*) FROM items i LEFT JOIN item_scores s ON s.item_id = i.id AND s.model = ? "
        "WHERE i.batch_id = ? AND (s.item_id IS NULL OR s.nearest_item IS NULL) AND NOT EXISTS "
        "(SELECT 1 FROM features x WHERE x.sha256 = i.sha256 AND x.model = ? AND x.error IS NOT NULL)",
        (model, batch_id, model)).fetchone()[0]


def items_needing_comparison(conn, batch_id, model):
    """Analysed items with no score yet, or whose nearest item was deleted since."""
    return {row[0] for row in conn.execute(
        "SELECT i.id FROM items i JOIN features x ON x.sha256 = i.sha256 AND x.model = ? AND x.error IS NULL "
        "LEFT JOIN item_scores s ON s.item_id = i.id AND s.model = ? "
        "WHERE i.batch_id = ? AND (s.item_id IS NULL OR s.nearest_item IS NULL)", (model, model, batch_id))}


def save_pairs(conn, batch_id, model, pairs):
    """Store candidate pairs (tuples a_item, b_item, cosine, hash_distance, same_file, turned, verified,
    inliers, coverage, text_pair, pixel_equal), a < b."""
    conn.executemany(
        "INSERT OR REPLACE INTO pairs (model, a_item, b_item, batch_id, cosine, hash_distance, same_file, turned, "
        "verified, inliers, coverage, text_pair, pixel_equal) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(model, a, b, batch_id, *values) for a, b, *values in pairs])


def save_scores(conn, model, scores):
    """Store (item_id, nearest, nearest_item, uniqueness) rows."""
    conn.executemany("INSERT OR REPLACE INTO item_scores (item_id, model, nearest, nearest_item, uniqueness) "
                     "VALUES (?, ?, ?, ?, ?)", [(i, model, n, ni, u) for i, n, ni, u in scores])


def raise_nearest(conn, model, item_id, nearest, nearest_item, uniqueness):
    """Lower an existing item's uniqueness when a new item is closer than its old nearest."""
    conn.execute("UPDATE item_scores SET nearest = ?, nearest_item = ?, uniqueness = ? "
                 "WHERE item_id = ? AND model = ? AND nearest < ?",
                 (nearest, nearest_item, uniqueness, item_id, model, nearest))


def scores_pointing_at(conn, item_ids):
    """(item id, model) of the scores whose nearest item is one of item_ids."""
    marks = ",".join("?" * len(item_ids))
    return [tuple(r) for r in conn.execute(
        f"SELECT item_id, model FROM item_scores WHERE nearest_item IN ({marks})", list(item_ids))]


def rescore_from_pairs(conn, model, item_id, floor):
    """Set an item's nearest from its stored pairs (its nearest item was deleted). Without one, nearest is the
    candidate floor (the true one is below it) and no nearest item, so the next run compares it again."""
    best = conn.execute(
        "SELECT CASE WHEN same_file THEN 1.0 ELSE cosine END AS s, CASE WHEN a_item = ? THEN b_item ELSE a_item END "
        "FROM pairs WHERE model = ? AND (a_item = ? OR b_item = ?) ORDER BY s DESC LIMIT 1",
        (item_id, model, item_id, item_id)).fetchone()
    nearest, other = (best[0], best[1]) if best else (floor, None)
    conn.execute("UPDATE item_scores SET nearest = ?, nearest_item = ?, uniqueness = ? WHERE item_id = ? AND model = ?",
                 (nearest, other, 1.0 - nearest, item_id, model))


_PAIR_SELECT = ("SELECT p.a_item, p.b_item, p.cosine, p.hash_distance, p.same_file, p.turned, p.verified, "
                "p.inliers, p.coverage, p.text_pair, p.pixel_equal, "
                "a.sha256 AS sha_a, b.sha256 AS sha_b FROM pairs p JOIN items a ON a.id = p.a_item "
                "JOIN items b ON b.id = p.b_item ")


def batch_pairs(conn, batch_id, model):
    """A batch's stored candidate pairs."""
    return conn.execute(_PAIR_SELECT + "WHERE p.batch_id = ? AND p.model = ?", (batch_id, model)).fetchall()


def groups_generation(conn, batch_id):
    """(batch's groups generation, its archive's dismissals generation): they change whenever groups may."""
    return tuple(conn.execute("SELECT b.groups_generation, a.dismissals_generation FROM batches b "
                              "JOIN archives a ON a.id = b.archive_id WHERE b.id = ?", (batch_id,)).fetchone())


def pairs_among(conn, model, item_ids):
    """Stored pairs whose both items are among item_ids (an expanded card's members), with their shas."""
    ids = json.dumps(list(item_ids))  # one parameter, however large the group
    return conn.execute(_PAIR_SELECT + "WHERE p.model = ? AND p.a_item IN (SELECT value FROM json_each(?)) "
                        "AND p.b_item IN (SELECT value FROM json_each(?))", [model, ids, ids]).fetchall()


def page_records(conn, shas, version):
    """{sha256: record blob} of these contents' cached verification records."""
    found = {}
    for start in range(0, len(shas), 500):
        chunk = list(shas[start:start + 500])
        marks = ",".join("?" * len(chunk))
        found.update(conn.execute(f"SELECT sha256, record FROM page_records WHERE version = ? "
                                  f"AND sha256 IN ({marks})", [version, *chunk]).fetchall())
    return found


def save_page_record(conn, sha256, version, record):
    """Cache one content's verification record (kept while the content is)."""
    conn.execute("INSERT OR IGNORE INTO page_records (sha256, version, record) VALUES (?, ?, ?)",
                 (sha256, version, record))


def pair_checks(conn, keys, version):
    """{(sha_a, sha_b): (verified, inliers, coverage, text_pair)} of cached verification results."""
    found = {}
    for start in range(0, len(keys), 400):
        chunk = keys[start:start + 400]
        marks = ",".join("(?, ?)" for _key in chunk)
        rows = conn.execute(f"SELECT sha_a, sha_b, verified, inliers, coverage, text_pair FROM pair_checks "
                            f"WHERE version = ? AND (sha_a, sha_b) IN (VALUES {marks})",
                            [version, *(sha for key in chunk for sha in key)]).fetchall()
        found.update({(r[0], r[1]): tuple(r[2:]) for r in rows})
    return found


def save_pair_checks(conn, version, checks):
    """Cache verification results: {(sha_a, sha_b): (verified, inliers, coverage, text_pair)}, sha_a < sha_b."""
    conn.executemany("INSERT OR IGNORE INTO pair_checks (sha_a, sha_b, version, verified, inliers, coverage, "
                     "text_pair) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(a, b, version, *values) for (a, b), values in checks.items()])


def file_exts(conn, shas):
    """{sha256: ext} of stored originals."""
    marks = ",".join("?" * len(shas))
    return dict(conn.execute(f"SELECT sha256, ext FROM files WHERE sha256 IN ({marks})", list(shas)).fetchall())


def batch_scores(conn, batch_id, model):
    """{item id: uniqueness} for a batch's scored items."""
    return dict(conn.execute("SELECT s.item_id, s.uniqueness FROM item_scores s JOIN items i ON i.id = s.item_id "
                             "WHERE i.batch_id = ? AND s.model = ?", (batch_id, model)).fetchall())


def item_scores(conn, model, item_ids):
    """{item id: uniqueness} for these items' scores (a page of an export, not the whole batch)."""
    return dict(conn.execute("SELECT item_id, uniqueness FROM item_scores WHERE model = ? AND item_id IN "
                             "(SELECT value FROM json_each(?))", (model, json.dumps(list(item_ids)))).fetchall())


def uniqueness_counts(conn, batch_id, model, bins):
    """How many of a batch's scored items fall in each of `bins` equal uniqueness bins over 0..1."""
    counts = [0] * bins
    for index, count in conn.execute(
            "SELECT min(?, CAST(s.uniqueness * ? AS INTEGER)) AS bin, count(*) FROM item_scores s "
            "JOIN items i ON i.id = s.item_id WHERE i.batch_id = ? AND s.model = ? GROUP BY bin",
            (bins - 1, bins, batch_id, model)):
        counts[max(0, index)] += count
    return counts


_IN_RANGE = ("JOIN item_scores s ON s.item_id = i.id AND s.model = ? "
             "WHERE i.batch_id = ? AND s.uniqueness BETWEEN ? AND ? ")


def count_scored_in_range(conn, batch_id, model, low, high):
    """How many of a batch's scored items have a uniqueness within low..high."""
    return conn.execute("SELECT count(*) FROM items i " + _IN_RANGE,
                        (model, batch_id, low, high)).fetchone()[0]


def scored_items_in_range(conn, batch_id, model, low, high, by_uniqueness, offset, limit):
    """A page of a batch's items with uniqueness within low..high (with file data and `uniqueness`), in batch
    order or least unique first."""
    order = "s.uniqueness, i.position, i.id" if by_uniqueness else "i.position, i.id"
    return conn.execute(ITEM_COLUMNS + ", s.uniqueness FROM items i " + ITEM_JOINS + _IN_RANGE +
                        f"ORDER BY {order} LIMIT ? OFFSET ?",
                        (model, batch_id, low, high, limit, offset)).fetchall()


def _scope(batch_id, archive_id):
    return ("i.batch_id = ?", batch_id) if batch_id is not None else ("b.archive_id = ?", archive_id)


def scope_holds_more_than(conn, limit, batch_id=None, archive_id=None):
    """Whether a batch or an archive holds more than limit items (counts no further)."""
    scope, value = _scope(batch_id, archive_id)
    return conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM items i JOIN batches b ON b.id = i.batch_id "
                        f"WHERE {scope} LIMIT ?)", (value, limit + 1)).fetchone()[0] > limit


def analysed_items(conn, model, batch_id=None, archive_id=None):
    """Items (id, batch, filename, features id) of a batch or an archive whose content has features."""
    scope, value = _scope(batch_id, archive_id)
    return conn.execute(
        f"SELECT i.id, i.batch_id, i.filename, i.sha256, x.id AS feature_id FROM items i "
        f"JOIN batches b ON b.id = i.batch_id "
        f"JOIN features x ON x.sha256 = i.sha256 AND x.model = ? AND x.error IS NULL WHERE {scope}",
        (model, value)).fetchall()


def items_for_features(conn, feature_ids, model, batch_id=None, archive_id=None):
    """Items (id, batch, filename, features id) whose content has these feature rows, within a batch or archive."""
    if not feature_ids:
        return []
    marks = ",".join("?" * len(feature_ids))
    scope, value = _scope(batch_id, archive_id)
    # CROSS JOIN fixes the join order: from the few candidates to their items, never from a big batch's items.
    return conn.execute(
        f"SELECT i.id, i.batch_id, i.filename, i.sha256, x.id AS feature_id FROM features x "
        f"CROSS JOIN items i ON i.sha256 = x.sha256 CROSS JOIN batches b ON b.id = i.batch_id "
        f"WHERE x.model = ? AND x.id IN ({marks}) AND {scope}", [model, *feature_ids, value]).fetchall()


def item_views(conn, item_id, model):
    """(views blob, view bytes) of an item's content, or None if it was not analysed."""
    return conn.execute("SELECT x.views, x.view_bytes FROM items i JOIN features x ON x.sha256 = i.sha256 "
                        "AND x.model = ? WHERE i.id = ? AND x.error IS NULL", (model, item_id)).fetchone()


def archive_has_analysed_items(conn, archive_id, model):
    """True if any item of the archive has features for this model."""
    return conn.execute("SELECT 1 FROM items i JOIN batches b ON b.id = i.batch_id JOIN features x "
                        "ON x.sha256 = i.sha256 AND x.model = ? WHERE b.archive_id = ? LIMIT 1",
                        (model, archive_id)).fetchone() is not None
