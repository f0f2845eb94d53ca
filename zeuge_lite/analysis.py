"""A batch analysis run: features for new content, comparison of new items, groups on demand. No Flask."""
import time
from dataclasses import dataclass

import numpy as np

from zeuge_lite import queries
from zeuge_lite import queries_review as qr
from zeuge_lite import queries_similarity as qs
from zeuge_lite.db import IntegrityError, transaction
from zeuge_lite.similarity.embedding import (ModelUnavailable, coarse_codes, get_embedder, model_spec, stored_views,
                                          stored_views_many)
from zeuge_lite.similarity.exact import confirm_exact, signature_of_file
from zeuge_lite.similarity.grouping import (Pair, Thresholds, apart_from_plain, describe_pairs, group_items,
                                            view_similarity)
from zeuge_lite.similarity.neighbours import candidate_pairs, gather_views, view_dtype
from zeuge_lite.similarity.parallel import UNREADABLE, analyse_files, record_files, run_checks
from zeuge_lite.similarity.verification import CHECK_VERSION, PAGE, RECORD_VERSION, Check, verify_candidates

PROGRESS_EVERY_S = 0.5
MAX_KNN = 4096  # sqlite-vec's largest k
WHOLE_SCOPE = 2000  # a batch or archive with at most this many items is scored whole (at most ~30 MB of views)
STALE_AFTER_S = 120
STALE_REASON = ("The worker stopped during this run (it stopped sending signs of life). Run the analysis "
                "again: photos analysed so far are kept and not computed again.")
NO_WORKER_AFTER_S = 30
NO_WORKER = ("No worker is running, so this analysis has not started. Start one with `huey_consumer app.huey "
             "--workers 2 --worker-type thread` (the Procfile's worker: line); the analysis then begins by itself.")


class RunCancelled(Exception):
    """Someone pressed Cancel."""


@dataclass(frozen=True)
class AnalysisSettings:
    """Plain settings a worker needs (no live objects, so the queue can move to other machines)."""
    model: str
    model_dir: str
    max_pixels: int
    workers: int = 0

    def as_dict(self):
        """For huey task arguments."""
        return {"model": self.model, "model_dir": self.model_dir, "max_pixels": self.max_pixels,
                "workers": self.workers}


def start_or_get_run(conn, batch_id, model, params, user_id, stale_after_s=STALE_AFTER_S):
    """(run, created): a new queued run, or the batch's active one (double click, second tab)."""
    qs.fail_stalled_runs(conn, stale_after_s, STALE_REASON)
    active = qs.active_run(conn, batch_id)
    if active:
        return active, False
    try:
        run_id = qs.create_run(conn, batch_id, model, params, user_id)
    except IntegrityError:  # another request created it between our check and insert
        return qs.active_run(conn, batch_id), False
    return qs.run_by_id(conn, run_id), True


def run_as_shown(conn, batch_id, stale_after_s=STALE_AFTER_S):
    """The batch's current run as a page should show it, computed without writing (GET requests only read).

    A running run without signs of life shows as failed (the worker or the next start records it); a queued run
    that no worker has taken carries a note saying how to start one."""
    run = qs.active_run(conn, batch_id) or qs.latest_run(conn, batch_id)
    if run is None:
        return None
    run, ages = dict(run), qs.run_ages(conn, run["id"])
    if run["status"] == "running" and ages["heartbeat"] is not None and ages["heartbeat"] > stale_after_s:
        run.update(status="failed", error=STALE_REASON)
    elif run["status"] == "queued" and ages["created"] > NO_WORKER_AFTER_S and (
            ages["worker"] is None or ages["worker"] > NO_WORKER_AFTER_S):
        run["no_worker"] = NO_WORKER
    return run


def run_analysis(conn, storage, run_id, settings):
    """Carry out a queued run: features, comparison, done; failures are recorded, never left running."""
    if not qs.start_run(conn, run_id):
        return
    run = qs.run_by_id(conn, run_id)
    try:
        spec = model_spec(settings.model)
        qs.ensure_vec_table(conn, spec)
        total = _compute_features(conn, storage, run, spec, settings)
        beat = _run_reporter(conn, run_id)
        compare_batch(conn, run["batch_id"], spec.name, stored_records(conn, storage, settings, beat), storage,
                      beat)
        qs.update_run(conn, run_id, done=total, total=total)  # the finished run tells how many were new
    except RunCancelled:
        qs.finish_run(conn, run_id, "cancelled")
        qs.update_run(conn, run_id, stage="cancelled")
        return
    except ModelUnavailable as exc:
        qs.finish_run(conn, run_id, "failed", str(exc))
        return
    except Exception as exc:  # the page must show why, not a run that spins forever
        qs.finish_run(conn, run_id, "failed", f"The analysis stopped: {type(exc).__name__}: {exc}")
        raise
    qs.update_run(conn, run_id, stage="done")
    qs.finish_run(conn, run_id, "done")


def _compute_features(conn, storage, run, spec, settings):
    """Decode, hash and embed only content that has no features for this model yet (or could not be read).

    The run counts this batch's new items, not contents computed: features are shared across archives, and
    how many were cached must not tell one archive what another holds."""
    with transaction(conn):
        qs.forget_feature_errors(conn, run["batch_id"], spec.name, UNREADABLE)
    total = qs.count_items_new_to_batch(conn, run["batch_id"], spec.name)
    missing = qs.shas_missing_features(conn, run["batch_id"], spec.name)
    qs.update_run(conn, run["id"], stage="analysing photos", total=total, done=0)
    get_embedder(spec.name, settings.model_dir)  # fail early with the how-to message if the model is missing
    paths = [storage.original_path(row["sha256"], row["ext"]) for row in missing]
    progress = {"done": 0, "computed": 0, "failed": 0, "reported": 0.0}
    # Originals are stored under their sha256 already: the workers need not hash them again.
    for path, _sha, features, error in analyse_files(paths, spec.name, settings.max_pixels, settings.model_dir,
                                                      settings.workers or None, hash_content=False):
        if _save_result(conn, spec, path.stem, features, error):
            progress["computed"] += 1
            progress["failed"] += bool(error)
        progress["done"] = min(total, progress["done"] + 1)
        if time.monotonic() - progress["reported"] > PROGRESS_EVERY_S:
            _report(conn, run["id"], progress)
    _report(conn, run["id"], dict(progress, done=total))
    return total


def _save_result(conn, spec, sha256, features, error):
    """Store one content's features or error; False when its items were deleted meanwhile (nothing to keep)."""
    with transaction(conn):
        if not qs.file_is_known(conn, sha256):
            return False
        if error:
            qs.save_feature_error(conn, spec.name, sha256, error)
        else:
            qs.save_features(conn, spec, sha256, features)
            if features.record is not None:  # a page: its verification record came from the same decode
                qs.save_page_record(conn, sha256, RECORD_VERSION, features.record)
    return True


def _report(conn, run_id, progress):
    """Write progress (and the heartbeat); stop if someone pressed Cancel."""
    qs.update_run(conn, run_id, done=progress["done"], computed=progress["computed"],
                  failed_items=progress["failed"])
    progress["reported"] = time.monotonic()
    if qs.cancel_requested(conn, run_id):
        raise RunCancelled()


def _run_reporter(conn, run_id):
    """progress(stage, done=0, total=0) for the stages after feature extraction: writes the run's stage, its
    n of total photos (none when total is 0) and heartbeat, at most every PROGRESS_EVERY_S within a stage but
    always at its start and end; raises RunCancelled when someone pressed Cancel."""
    last = {"at": 0.0, "stage": None}

    def progress(stage, done=0, total=0):
        if stage == last["stage"] and done != total and time.monotonic() - last["at"] < PROGRESS_EVERY_S:
            return
        qs.update_run(conn, run_id, stage=stage, done=done, total=total)
        last.update(at=time.monotonic(), stage=stage)
        if qs.cancel_requested(conn, run_id):
            raise RunCancelled()
    return progress


def load_batch_features(conn, batch_id, model):
    """(item ids, shas, hashes n x 8, views as neighbours.ViewMatrices, page hints) of a batch's analysed items.

    Rows are copied into the matrices as they are read: a large batch's views never sit in memory twice."""
    n, dim = qs.count_batch_features(conn, batch_id, model), model_spec(model).dim
    ids, shas, hints, hashes = [], [], [], np.zeros((n, 8), np.uint64)
    dtype = view_dtype(n)

    def views_of_rows():
        for index, row in enumerate(qs.batch_feature_rows(conn, batch_id, model)):
            if index == n:
                return  # an item analysed between the count and this read waits for the next run
            hashes[index] = np.frombuffer(row["hashes"], dtype=np.uint64)
            ids.append(row["id"])
            shas.append(row["sha256"])
            hints.append(PAGE if row["page_hint"] is None else row["page_hint"])  # unknown (older features): a page
            yield index, stored_views(row["views"], dim, row["view_bytes"], dtype)
    views = gather_views(n, dim, views_of_rows())
    count = len(ids)
    return ids, shas, hashes[:count], views._replace(upright=views.upright[:count],
                                                     canonical=views.canonical[:count]), hints


def stored_records(conn, storage, settings, progress=None):
    """records_for for the verification stage: cached records, the rest decoded from the originals and cached;
    progress(stage, done, total) hears of each one decoded."""
    def records_for(wanted):
        found = qs.page_records(conn, list(wanted), RECORD_VERSION)
        exts = qs.file_exts(conn, [sha for sha in wanted if sha not in found])
        files = [(storage.original_path(sha, ext), wanted[sha]) for sha, ext in exts.items()]
        for done, (path, record, _error) in enumerate(
                record_files(files, settings.max_pixels, settings.workers or None), start=1):
            if progress:
                progress("reading details for verification", done, len(files))
            if record is not None:
                with transaction(conn):
                    qs.save_page_record(conn, path.stem, RECORD_VERSION, record)
                found[path.stem] = record
        return found
    return records_for


def _cached_checks(conn):
    def known_checks(keys):
        cached = qs.pair_checks(conn, keys, CHECK_VERSION)
        return {key: Check(bool(v), i, c, bool(t)) for key, (v, i, c, t) in cached.items()}
    return known_checks


def compare_batch(conn, batch_id, model, records_for=None, storage=None, progress=None):
    """Compare new (or orphaned) items with the whole batch, verify the pairs that need it (records_for gives
    per-content records, see stored_records; without it only cached results are used), look at the pixels of
    hash-exact pairs (storage's thumbnails; without it none is an exact copy); store pairs and scores.

    progress(stage, done, total) hears of each step (see _run_reporter); it may raise to stop."""
    progress = progress or (lambda _stage, _done=0, _total=0: None)
    progress("loading features")
    ids, shas, hashes, views, hints = load_batch_features(conn, batch_id, model)
    todo = qs.items_needing_comparison(conn, batch_id, model)
    rows = [index for index, item_id in enumerate(ids) if item_id in todo]
    if not rows:
        return 0
    progress("comparing", 0, len(rows))
    pairs, nearest, nearest_index = candidate_pairs(shas, hashes, views, rows,
                                                    lambda done, total: progress("comparing", done, total))
    del views  # the largest array of the run: verification and storing need none of it
    progress("checking exact copies")
    confirm_exact(pairs, _thumbnail_signatures(storage, shas), Thresholds().hash_exact)
    plain = queries.plain_shas(conn, batch_id)
    pairs = apart_from_plain(pairs, {i for i, sha in enumerate(shas) if sha in plain})
    checked = _verify(conn, pairs, shas, hints, records_for, progress)
    progress("storing pairs")
    with transaction(conn):
        qs.save_pair_checks(conn, CHECK_VERSION, {key: (int(c.verified), c.inliers, c.coverage, int(c.text))
                                            for key, c in checked.items()})
        qs.save_pairs(conn, batch_id, model, [(ids[p.a], ids[p.b], p.cosine, p.hash_distance, int(p.same_file),
                                               int(p.turned), _flag(p.verified), p.inliers, p.coverage, int(p.text),
                                               _flag(p.pixel_equal))
                                              for p in pairs])
        qs.save_scores(conn, model, [(ids[r], float(n), ids[i] if i >= 0 else None, 1.0 - float(n))
                                     for r, n, i in zip(rows, nearest, nearest_index)])
        _lower_uniqueness_of_neighbours(conn, model, ids, pairs)
    return len(rows)


def _verify(conn, pairs, shas, hints, records_for, progress):
    """verify_candidates with a beat after each task of full checks (stored_records beats while it decodes)."""
    def run(function, tasks):
        for done, result in enumerate(run_checks(function, tasks), start=1):
            progress("verifying details", done)
            yield result
    progress("verifying details")
    return verify_candidates(pairs, shas, hints, records_for or (lambda _shas: {}), _cached_checks(conn), run)


def _thumbnail_signatures(storage, shas):
    """signature_for of confirm_exact: the stored thumbnail of the item at an index (None without storage)."""
    def signature_for(index):
        return signature_of_file(storage.derived_path("thumb", shas[index])) if storage else None
    return signature_for


def _flag(value):
    return None if value is None else int(value)


def pair_from_row(row, a, b):
    """A grouping.Pair of stored pair row, between indexes (or ids) a < b."""
    return Pair(a, b, row["cosine"], row["hash_distance"], bool(row["same_file"]), bool(row["turned"]),
                None if row["verified"] is None else bool(row["verified"]), row["inliers"], row["coverage"],
                bool(row["text_pair"]), None if row["pixel_equal"] is None else bool(row["pixel_equal"]))


def _lower_uniqueness_of_neighbours(conn, model, ids, pairs):
    """Old items that a new item is closer to than their old nearest item become less unique."""
    for pair in pairs:
        strength = 1.0 if pair.same_file else pair.cosine
        for item, other in ((pair.a, pair.b), (pair.b, pair.a)):
            qs.raise_nearest(conn, model, ids[item], strength, ids[other], 1.0 - strength)


def batch_groups(conn, batch_id, model, thresholds=Thresholds(), dismissed=frozenset()):
    """Groups of a batch's items from stored pairs (no vector math): [(Group, [item ids])].

    Pairs marked "not duplicates" (content hash pairs in `dismissed`) count as unrelated."""
    rows = [r for r in qs.batch_pairs(conn, batch_id, model)
            if r["same_file"] or tuple(sorted((r["sha_a"], r["sha_b"]))) not in dismissed]
    index = {}
    for row in rows:
        for item_id in (row["a_item"], row["b_item"]):
            index.setdefault(item_id, len(index))
    item_of = {i: item_id for item_id, i in index.items()}
    pairs = [pair_from_row(r, *sorted((index[r["a_item"]], index[r["b_item"]]))) for r in rows]
    return [(group, [item_of[m] for m in group.members]) for group in group_items(pairs, thresholds)]


def current_groups(memo, conn, batch, model, thresholds=Thresholds()):
    """batch_groups with the archive's "not duplicates" decisions applied, remembered in memo until the batch's
    pairs, items or the archive's decisions change: pages and slider positions share one grouping."""
    # The generation is read before the pairs: a write in between leaves the entry under the older key.
    key = ("groups", batch["id"], model, thresholds, qs.groups_generation(conn, batch["id"]))
    return memo.get(key, lambda: batch_groups(conn, batch["id"], model, thresholds,
                                              qr.dismissed_pairs(conn, batch["archive_id"])))


def similar_items(conn, model, query_views, k=10, batch_id=None, archive_id=None, exclude_item=None):
    """Items most similar to a query (its views), within a batch or an archive: [(item row, score)].

    A small scope is scored whole. Otherwise sqlite-vec finds candidates by the coarse codes of the query's
    upright view among stored upright views and of its canonical views among stored canonical ones; they are
    scored exactly, as in grouping."""
    spec = model_spec(model)
    qs.ensure_vec_table(conn, spec)
    query = np.asarray(query_views, dtype=np.float32)
    if qs.scope_holds_more_than(conn, WHOLE_SCOPE, batch_id, archive_id):
        rows = _coarse_candidate_rows(conn, spec, query, k, batch_id, archive_id, exclude_item)
    else:
        rows = _other_than(qs.analysed_items(conn, model, batch_id, archive_id), exclude_item)
    best = _exact_scores(conn, spec, query, {row["feature_id"] for row in rows})
    return sorted(((row, best[row["feature_id"]]) for row in rows), key=lambda pair: -pair[1])[:k]


def _other_than(rows, item_id):
    return [row for row in rows if row["id"] != item_id]


def _coarse_candidate_rows(conn, spec, query, k, batch_id, archive_id, exclude_item):
    """Items in scope whose contents are near the query's coarse codes: at least k of them when there are.

    Candidates come from every archive's photos: when those outside the scope crowd it out, the search widens."""
    codes = coarse_codes(query)
    fetch = max(40, 4 * k)  # room for the query itself and contents outside the scope; cost grows with it
    while True:
        searches = [qs.coarse_neighbours(conn, spec, codes[0], fetch, canonical=False)]
        searches += [qs.coarse_neighbours(conn, spec, code, fetch, canonical=True)
                     for code in {bytes(code) for code in codes[1:]}]
        candidates = list(set().union(*searches))
        rows = _other_than(qs.items_for_features(conn, candidates, spec.name, batch_id, archive_id), exclude_item)
        if len(rows) >= k or fetch >= MAX_KNN or all(len(found) < fetch for found in searches):
            return rows
        fetch = min(MAX_KNN, fetch * 4)


def _exact_scores(conn, spec, query, feature_ids):
    """{features id: cosine} for candidates, compared view by view as grouping does."""
    if not feature_ids:
        return {}
    rows = qs.views_of_features(conn, feature_ids)
    views = stored_views_many([r["views"] for r in rows], spec.dim, [r["view_bytes"] for r in rows])
    scores = view_similarity(views, query[None, :, :])[:, 0]
    return {row["id"]: float(score) for row, score in zip(rows, scores)}


def similar_to_item(conn, model, item_id, k=10, batch_id=None, archive_id=None):
    """Items most similar to a stored item (empty if it was not analysed yet)."""
    stored = qs.item_views(conn, item_id, model)
    if stored is None:
        return []
    views = stored_views(stored["views"], model_spec(model).dim, stored["view_bytes"])
    return similar_items(conn, model, views, k, batch_id, archive_id, exclude_item=item_id)


def similar_to_image(conn, model, data, max_pixels, k=10, batch_id=None, archive_id=None, model_dir=None):
    """Items most similar to an outside image (bytes); nothing about the image is stored."""
    from zeuge_lite.similarity.features import extract_features
    features = extract_features(data, get_embedder(model, model_dir), max_pixels)
    return similar_items(conn, model, features.vectors, k, batch_id, archive_id)


def describe_members(conn, model, item_ids, thresholds=Thresholds(), dismissed=frozenset()):
    """Score, tier and signal of a set of items from their stored pairs (for an expanded card)."""
    rows = qs.pairs_among(conn, model, list(item_ids))
    pairs = [pair_from_row(r, r["a_item"], r["b_item"]) for r in rows
             if r["same_file"] or tuple(sorted((r["sha_a"], r["sha_b"]))) not in dismissed]
    if not pairs:
        return None
    return describe_pairs(pairs, thresholds)
