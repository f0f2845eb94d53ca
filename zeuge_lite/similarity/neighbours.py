"""Candidate pairs of a batch as a sparse neighbour graph: each item's top-k by embedding (blocked matrix
products, never an n x n matrix) and its near pHashes (a multi-index search, never all pairs)."""
from itertools import combinations
from typing import NamedTuple

import numpy as np

from zeuge_lite.similarity.grouping import CANDIDATE_COSINE_FLOOR, CANDIDATE_HASH_FLOOR, Pair

TILE = 4096  # items per side of a tile of similarities: TILE x TILE float32 is 64 MB
# Neighbours kept per item above the candidate floor. docs-dev (pages look alike to the model) has items with
# 142 of 179 others above it; photos/dev at most 92. More than this many candidates per item only feed the
# verification stage more pairs that the embedding cannot rank.
TOP_K = 256
# pHash pairs below the cosine floor are found by a multi-index search: split the 64 bits into c chunks, and a
# pair within r bits is within r // c bits on some chunk. Up to CANDIDATE_HASH_FLOOR (12 bits: 4 chunks of 16,
# 697 probes each) the search checks about 4 * 697 * 8n / 65536 codes per item, 3,400 at 100,000 items (2 s
# at 10,000 random pHashes here), so larger batches search exactly up to hash_near (8 bits: 3 chunks of 21-22
# bits, 2 bits each, 0.4 codes per probe) and keep 9-12 bit pairs only when the embedding finds them too
# (photos/dev and docs-dev have 10 and 8 such pairs, all below cosine 0.51; without them the unverified
# groups are the same).
HASH_SEARCHES = ((CANDIDATE_HASH_FLOOR, (16, 16, 16, 16)), (8, (22, 21, 21)))
FULL_HASH_SEARCH_UP_TO = 5_000


def candidate_pairs(shas, hashes, views, rows=None, progress=None, k=TOP_K):
    """Pairs that involve `rows` (ascending; default: all) above the candidate floors, and each row's nearest
    score and nearest item index (-1 when alone); views are n x views x dim or ViewMatrices; progress(done,
    total) is called after each tile with the rows whose comparison is complete.

    The same pairs as comparing every row with every item, as long as no row has more than k other items
    above the cosine floor (then its k most similar are kept)."""
    n = len(shas)
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    codes = _content_codes(shas)
    matrices = views if isinstance(views, ViewMatrices) else view_matrices(views)
    same = _same_content(codes)
    progress = progress or (lambda _done, _total: None)
    compare = _all_with_all if len(rows) == n else _rows_with_all
    found, best, best_index = compare(rows, matrices, same, k, progress)
    nearest, nearest_index = (np.clip(best, 0.0, 1.0), best_index) if n > 1 else \
        (np.zeros(len(rows)), np.full(len(rows), -1))
    found += [_unscored(same[np.isin(same[:, 0], rows)]),
              _unscored(hash_neighbours(hashes, rows, *HASH_SEARCHES[n > FULL_HASH_SEARCH_UP_TO]))]
    return _as_pairs(np.concatenate(found), rows, n, codes, hashes, matrices), nearest, nearest_index


def _rows_with_all(rows, matrices, same, k, progress):
    """(triples, best score, best index) of some rows (a re-run's new items) against every item."""
    n, found = len(matrices.upright), []
    best, best_index = np.full(len(rows), -np.inf), np.full(len(rows), -1)
    for begin in range(0, len(rows), TILE):
        block, kept = rows[begin:begin + TILE], []
        for start in range(0, n, TILE):
            sims = _tile(matrices, block, same, start, min(n, start + TILE))
            _best_of_tile(sims, best[begin:begin + TILE], best_index[begin:begin + TILE], start)
            kept.append(_top_of_tile(sims, block, start, k))
            progress(begin, len(rows))
        found.append(_keep_top(np.concatenate(kept), k))
    progress(len(rows), len(rows))
    return found, best, best_index


def _all_with_all(rows, matrices, same, k, progress):
    """_rows_with_all for every item, each tile computed once for both of its blocks (the matrix is symmetric):
    half the products."""
    n, found = len(rows), []
    best, best_index = np.full(n, -np.inf), np.full(n, -1)
    starts = list(range(0, n, TILE))
    pending = {start: [] for start in starts}
    for i in starts:
        block = rows[i:i + TILE]
        for j in starts[starts.index(i):]:
            stop = min(n, j + TILE)
            sims = _tile(matrices, block, same, j, stop)
            _best_of_tile(sims, best[i:i + TILE], best_index[i:i + TILE], j)
            pending[i].append(_top_of_tile(sims, block, j, k))
            if j > i:  # the same tile read the other way: rows of block j against block i
                _best_of_tile(sims.T, best[j:stop], best_index[j:stop], i)
                pending[j].append(_top_of_tile(sims.T, rows[j:stop], i, k))
                if len(pending[j]) > 8:  # bounded memory when many items are alike
                    pending[j] = [_keep_top(np.concatenate(pending[j]), k)]
            progress(i, n)
        found.append(_keep_top(np.concatenate(pending.pop(i)), k))
    progress(n, n)
    return found, best, best_index


def _tile(matrices, block, same, start, stop):
    """Similarities of a block of rows with items start..stop: identical files 1.0, an item with itself -inf."""
    sims = tile_similarity(matrices, block, start, stop)
    _mark_same_content(sims, block, same[np.isin(same[:, 0], block)], start, stop)
    return sims


def _unscored(pairs):
    """(a, b, NaN) rows: pairs whose similarity is computed later."""
    return np.column_stack([pairs.astype(np.float64), np.full(len(pairs), np.nan)])


def _content_codes(shas):
    """One integer per distinct content hash (identical files share it)."""
    return np.unique(np.asarray(shas), return_inverse=True)[1].astype(np.int64)


def _same_content(codes):
    """(a, b) index pairs of identical files, both ways round."""
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1]])
    sizes = np.diff(np.r_[starts, len(codes)])
    pairs = [(a, b) for start, size in zip(starts[sizes > 1], sizes[sizes > 1])
             for a in order[start:start + size] for b in order[start:start + size] if a != b]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


class ViewMatrices(NamedTuple):
    """Items' views as the matrix products want them: a second canonical view equal to the first adds nothing
    to the maximum, so only the items that have another one (`second`, ascending) keep it."""
    upright: np.ndarray       # n x dim float32
    canonical: np.ndarray     # n x dim float32
    second_views: np.ndarray  # len(second) x dim float32
    second: np.ndarray        # item indexes


def view_matrices(views):
    """ViewMatrices of an n x views x dim array (upright, canonical, second canonical)."""
    views = np.asarray(views, dtype=np.float32)
    upright, canonical = np.ascontiguousarray(views[:, 0]), np.ascontiguousarray(views[:, 1])
    second = np.flatnonzero(np.any(views[:, 2] != views[:, 1], axis=1)) if views.shape[1] > 2 else np.zeros(0, int)
    return ViewMatrices(upright, canonical, np.ascontiguousarray(views[second, 2]), second)


def gather_views(n, dim, rows_of_views):
    """ViewMatrices of n items from (index, views array) pairs, filled in place: a large batch's views are
    never held twice."""
    upright, canonical = np.zeros((n, dim), np.float32), np.zeros((n, dim), np.float32)
    second, second_views = [], []
    for index, views in rows_of_views:
        upright[index], canonical[index] = views[0], views[1]
        if len(views) > 2 and not np.array_equal(views[2], views[1]):
            second.append(index)
            second_views.append(views[2])
    order = np.argsort(second, kind="stable")
    stacked = np.stack(second_views)[order] if second_views else np.zeros((0, dim), np.float32)
    return ViewMatrices(upright, canonical, stacked, np.asarray(second, dtype=np.int64)[order])


def tile_similarity(matrices, rows, start, stop):
    """view_similarity (len(rows) x stop - start) of items `rows` with items start..stop, from ViewMatrices."""
    upright, canonical, second_views, second = matrices
    sims = upright[rows] @ upright[start:stop].T
    np.maximum(sims, canonical[rows] @ canonical[start:stop].T, out=sims)
    row_second = np.flatnonzero(np.isin(rows, second))
    lo, hi = np.searchsorted(second, [start, stop])
    col_second = second[lo:hi] - start
    row_views = second_views[np.searchsorted(second, rows[row_second])]
    if len(row_second):
        sims[row_second] = np.maximum(sims[row_second], row_views @ canonical[start:stop].T)
    if hi > lo:
        tile = np.maximum(sims[:, col_second], canonical[rows] @ second_views[lo:hi].T)
        if len(row_second):
            tile[row_second] = np.maximum(tile[row_second], row_views @ second_views[lo:hi].T)
        sims[:, col_second] = tile
    return sims


def _mark_same_content(sims, block, same, start, stop):
    """Identical files count as 1.0; an item is never its own neighbour."""
    inside = np.flatnonzero((block >= start) & (block < stop))
    sims[inside, block[inside] - start] = -np.inf
    here = same[(same[:, 1] >= start) & (same[:, 1] < stop)]
    sims[np.searchsorted(block, here[:, 0]), here[:, 1] - start] = 1.0


def _best_of_tile(sims, best, best_index, start):
    """Carry each row's best score and its first index across tiles."""
    index = sims.argmax(axis=1)
    value = sims[np.arange(len(sims)), index]
    better = value > best
    best[better], best_index[better] = value[better], index[better] + start


def _top_of_tile(sims, block, start, k):
    """(row, column, score) above the floor, at most k per row."""
    above = sims >= CANDIDATE_COSINE_FLOOR
    crowded = np.flatnonzero(above.sum(axis=1) > k)
    if len(crowded):
        kth = -np.partition(-sims[crowded], k - 1, axis=1)[:, k - 1]
        above[crowded] &= sims[crowded] >= kth[:, None]
    r, c = np.nonzero(above)
    return np.column_stack([block[r].astype(np.float64), (c + start).astype(np.float64), sims[r, c]])


def _keep_top(triples, k):
    """At most k (row, column, score) per row, the highest scores first (ties: the lower column)."""
    if len(triples) == 0:
        return np.zeros((0, 3))
    order = np.lexsort((triples[:, 1], -triples[:, 2], triples[:, 0]))
    triples = triples[order]
    starts = np.flatnonzero(np.r_[True, triples[1:, 0] != triples[:-1, 0]])
    rank = np.arange(len(triples)) - np.repeat(starts, np.diff(np.r_[starts, len(triples)]))
    return triples[rank < k]


def hash_neighbours(hashes, rows, radius, chunk_bits):
    """(a, b) index pairs, a or b in rows, whose pHashes are within radius bits (upright against any variant,
    either way round), found through a multi-index over chunks of the hashes (never all pairs)."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    n = len(hashes)
    if n < 2:
        return np.zeros((0, 2), np.int64)
    everyone, variants = np.arange(n), hashes.reshape(-1)
    owners = np.repeat(everyone, hashes.shape[1])
    is_row = np.zeros(n, bool)
    is_row[rows] = True
    row_variants = is_row[owners]
    found = [_near_codes(hashes[rows, 0], rows, variants, owners, radius, chunk_bits),
             _near_codes(hashes[:, 0], everyone, variants[row_variants], owners[row_variants], radius, chunk_bits)]
    pairs = np.concatenate(found)
    return pairs[pairs[:, 0] != pairs[:, 1]]


def _near_codes(queries, query_ids, codes, owners, radius, chunk_bits):
    """(query id, owner) for every code within radius bits of a query (64-bit codes cut into chunk_bits)."""
    per_chunk = radius // len(chunk_bits)
    found, shift = [], 0
    for bits in chunk_bits:
        mask = np.uint64((1 << bits) - 1)
        q_chunk = ((queries >> np.uint64(shift)) & mask).astype(np.int64)
        c_chunk = ((codes >> np.uint64(shift)) & mask).astype(np.int64)
        order = np.argsort(c_chunk, kind="stable")
        bounds = np.r_[0, np.cumsum(np.bincount(c_chunk, minlength=1 << bits))]
        for flip in _flips(bits, per_chunk):
            q, c = _bucket_hits(q_chunk ^ flip, bounds, order)
            close = np.bitwise_count(queries[q] ^ codes[c]) <= radius
            found.append(np.column_stack([query_ids[q[close]], owners[c[close]]]))
        shift += bits
    pairs = np.concatenate(found) if found else np.zeros((0, 2), np.int64)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2).astype(np.int64)


def _flips(bits, radius):
    """Every bit pattern of `bits` bits with at most radius bits set."""
    return [sum(1 << b for b in chosen) for r in range(radius + 1) for chosen in combinations(range(bits), r)]


def _bucket_hits(keys, bounds, order):
    """(query index, code index) for each code whose chunk equals the query's key."""
    lo, hi = bounds[keys], bounds[keys + 1]
    counts = hi - lo
    total = int(counts.sum())
    q = np.repeat(np.arange(len(keys)), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return q, order[np.repeat(lo, counts) + offsets]


def _as_pairs(found, rows, n, codes, hashes, matrices):
    """grouping.Pair of each distinct candidate, scored exactly, in the order rows meet them."""
    if len(found) == 0:
        return []
    is_row = np.zeros(n, bool)
    is_row[rows] = True
    a, b, score = found[:, 0].astype(np.int64), found[:, 1].astype(np.int64), found[:, 2]
    # A pair is met by its lower row when both are rows, else by its row; the other end follows in order.
    first = np.where(is_row[a] & is_row[b], np.minimum(a, b), np.where(is_row[a], a, b))
    other = np.where(first == a, b, a)
    keys = first * n + other
    order = np.lexsort((np.isnan(score), keys))  # a score from a tile first
    keys, score = keys[order], score[order]
    distinct = np.r_[True, keys[1:] != keys[:-1]]
    keys, cosine = keys[distinct], score[distinct]
    first, other = keys // n, keys % n
    same = codes[first] == codes[other]
    unknown = np.isnan(cosine) | same  # identical files were marked 1.0 in the tiles
    cosine[unknown] = _pair_similarity(matrices, first[unknown], other[unknown])
    dist, upright = pair_hash_distance(hashes, first, other)
    keep = (cosine >= CANDIDATE_COSINE_FLOOR) | (dist <= CANDIDATE_HASH_FLOOR) | same
    return [Pair(int(min(x, y)), int(max(x, y)), float(s), int(d), bool(e), bool(u > d))
            for x, y, s, d, e, u in zip(first[keep], other[keep], cosine[keep], dist[keep], same[keep],
                                        upright[keep])]


def _pair_similarity(matrices, a, b, chunk=65536):
    """view_similarity of item a[i] with item b[i], for arrays of pairs."""
    out = np.empty(len(a), np.float32)
    for start in range(0, len(a), chunk):
        x, y = a[start:start + chunk], b[start:start + chunk]
        out[start:start + chunk] = _pair_similarity_chunk(matrices, x, y)
    return out


def _pair_similarity_chunk(matrices, a, b):
    upright, canonical, second_views, second = matrices
    views_a, views_b = _canonical_sets(matrices, a), _canonical_sets(matrices, b)
    best = np.einsum("ij,ij->i", upright[a], upright[b])
    for va in views_a:
        for vb in views_b:
            np.maximum(best, np.einsum("ij,ij->i", va, vb), out=best)
    return best


def _canonical_sets(matrices, items):
    """The canonical views of items as two arrays (the second canonical where there is one, else the first)."""
    _upright, canonical, second_views, second = matrices
    first = canonical[items]
    where = np.searchsorted(second, items)
    has = (where < len(second)) & (second[np.minimum(where, len(second) - 1)] == items) if len(second) else \
        np.zeros(len(items), bool)
    other = first.copy()
    other[has] = second_views[where[has]]
    return first, other


def pair_hash_distance(hashes, a, b):
    """Smallest pHash distance of item a[i] and b[i] over the eight variants either way round, and the upright
    one."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    forward = np.bitwise_count(hashes[a, 0][:, None] ^ hashes[b]).astype(np.int64)
    backward = np.bitwise_count(hashes[a] ^ hashes[b, 0][:, None]).astype(np.int64)
    return np.minimum(forward.min(axis=1), backward.min(axis=1)), forward[:, 0]
