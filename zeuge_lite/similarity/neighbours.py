"""Candidate pairs of a batch as a sparse neighbour graph: each item's top-k by embedding (blocked matrix
products, never an n x n matrix) and its near pHashes (a multi-index search, never all pairs).

From APPROXIMATE_FROM items the products run on the views reduced to REDUCED_DIM dimensions (a principal
subspace of the batch's own views), which propose candidates, and only candidates are scored on the full
views: the products cost REDUCED_DIM / dim as much (100,000 items: 1.7e12 multiply-adds instead of 2.3e13)."""
from itertools import combinations
from typing import NamedTuple

import numpy as np

from zeuge_lite.similarity.grouping import CANDIDATE_COSINE_FLOOR, CANDIDATE_HASH_FLOOR, Pair

TILE = 2048  # items per side of a tile of similarities: TILE x TILE float32 is 16 MB
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
APPROXIMATE_FROM = 5_000  # items in a batch; below it every pair is scored on the full views
REDUCED_DIM = 96
# Candidates from the reduced views: REDUCED_K per item above REDUCED_FLOOR. On photos/dev + docs-dev (real
# embeddings) every pair at cosine >= 0.55 of the full views scores >= 0.47 on the reduced ones
# (bench/README.md, "Scale"); random directions (bench_scale's synthetic items) lose more, 0.1 at most for the
# planted copies.
REDUCED_FLOOR = 0.50
REDUCED_K = TOP_K
PCA_SAMPLE = 16_384  # views the subspace is fitted on


def approximate(n):
    """Whether a batch of n items is compared through reduced views (see the module's docstring)."""
    return n >= APPROXIMATE_FROM


def view_dtype(n):
    """How a batch of n items holds its full views: float16 from APPROXIMATE_FROM (they only score candidates,
    and 100,000 items' views are 1.1 GB as float32)."""
    return np.float16 if approximate(n) else np.float32


def candidate_pairs(shas, hashes, views, rows=None, progress=None, k=TOP_K):
    """Pairs that involve `rows` (ascending; default: all) above the candidate floors, and each row's nearest
    score and nearest item index (-1 when alone); views are n x views x dim or ViewMatrices; progress(done,
    total) is called after each tile with the rows whose comparison is complete.

    Below APPROXIMATE_FROM items, the same pairs as comparing every row with every item as long as no row has
    more than k other items above the cosine floor (then its k most similar are kept); from there, those that
    the reduced views propose (see the module's docstring)."""
    n = len(shas)
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    codes = _content_codes(shas)
    matrices = views if isinstance(views, ViewMatrices) else view_matrices(views, view_dtype(n))
    same = _same_content(codes)
    progress = progress or (lambda _done, _total: None)
    compare = _all_with_all if len(rows) == n else _rows_with_all
    if approximate(n):
        found, best, best_index = _reduced_comparison(compare, rows, matrices, same, progress)
        found, best, best_index = _rescored(found, rows, best_index, matrices, codes, k)
    else:
        found, best, best_index = compare(rows, matrices, same, k, progress, CANDIDATE_COSINE_FLOOR)
    nearest, nearest_index = (np.clip(best, 0.0, 1.0), best_index) if n > 1 else \
        (np.zeros(len(rows)), np.full(len(rows), -1))
    found += [_unscored(same[np.isin(same[:, 0], rows)]),
              _unscored(hash_neighbours(hashes, rows, *HASH_SEARCHES[n > FULL_HASH_SEARCH_UP_TO]))]
    return _as_pairs(np.concatenate(found), rows, n, codes, hashes, matrices), nearest, nearest_index


def _rescored(found, rows, best_index, matrices, codes, k):
    """The reduced views' candidates scored on the full views, kept above the cosine floor, at most k per row;
    and each row's nearest score and item on the full views, among its candidates and the item the reduced
    views ranked first."""
    candidates = _scored(np.concatenate(found), matrices, codes)
    kept = _keep_top(candidates[candidates[:, 2] >= CANDIDATE_COSINE_FLOOR], k)
    firsts = np.column_stack([rows, best_index, np.zeros(len(rows))])[best_index >= 0].astype(np.float64)
    top = _keep_top(np.concatenate([candidates, _scored(firsts, matrices, codes)]), 1)
    best, index = np.full(len(rows), -np.inf), np.full(len(rows), -1)
    where = np.searchsorted(rows, top[:, 0].astype(np.int64))
    best[where], index[where] = top[:, 2], top[:, 1].astype(np.int64)
    return [kept], best, index


def _scored(triples, matrices, codes):
    """(row, column, score) with the score of the full views (identical files 1.0), each unordered pair
    scored once."""
    a, b = triples[:, 0].astype(np.int64), triples[:, 1].astype(np.int64)
    low, high = np.minimum(a, b), np.maximum(a, b)
    _keys, first, inverse = np.unique(low * (int(high.max(initial=0)) + 1) + high, return_index=True,
                                      return_inverse=True)
    score = _pair_similarity(matrices, a[first], b[first]).astype(np.float64)[inverse.reshape(-1)]
    score[codes[a] == codes[b]] = 1.0
    return np.column_stack([triples[:, :2], score])


def _reduced_comparison(compare, rows, matrices, same, progress):
    """compare() on the reduced views, items with a second canonical view first (so that a tile reads their
    products as one slice, not scattered columns), its results in the items' own order."""
    reduced, order = reduced_matrices(matrices)
    position = np.empty(len(order), np.int64)
    position[order] = np.arange(len(order))
    moved = np.sort(position[rows])
    found, best, best_index = compare(moved, reduced, position[same].reshape(-1, 2), REDUCED_K, progress,
                                      REDUCED_FLOOR)
    for triples in found:
        triples[:, :2] = order[triples[:, :2].astype(np.int64)]
    where = np.searchsorted(moved, position[rows])
    best, best_index = best[where], best_index[where]
    return found, best, np.where(best_index >= 0, order[np.maximum(best_index, 0)], -1)


def reduced_matrices(matrices, dim=REDUCED_DIM, sample=PCA_SAMPLE):
    """(ViewMatrices, order): the views projected on the batch's top `dim` principal directions (uncentred:
    cosines, not covariances, are to be kept), scaled to length 1, as float32, with the items that have a
    second canonical view first; order[i] is the item at row i."""
    upright, canonical, second_views, second = matrices
    order = np.r_[second, np.setdiff1d(np.arange(len(upright)), second)].astype(np.int64)
    first = np.arange(len(second))
    if upright.shape[1] <= dim:
        return ViewMatrices(*(np.asarray(m, np.float32) for m in (upright[order], canonical[order], second_views)),
                            first), order
    basis = principal_directions(np.concatenate([_sample(upright, sample // 2), _sample(canonical, sample // 2)]),
                                 dim)
    return ViewMatrices(_project(upright, basis, order), _project(canonical, basis, order),
                        _project(second_views, basis), first), order


def principal_directions(rows, dim, iterations=4):
    """A float32 basis (columns) of the `dim` leading eigenvectors of rows' second-moment matrix, by subspace
    iteration (a full eigendecomposition of 1,280 x 1,280 takes 1.2 s here; this 0.05 s)."""
    rows = np.asarray(rows, np.float32)
    gram = (rows.T @ rows).astype(np.float64)
    start = np.random.default_rng(20261202).standard_normal((gram.shape[0], min(gram.shape[0], dim + 16)))
    basis = np.linalg.qr(gram @ start)[0]
    for _ in range(iterations):
        basis = np.linalg.qr(gram @ basis)[0]
    _values, vectors = np.linalg.eigh(basis.T @ gram @ basis)
    return np.ascontiguousarray((basis @ vectors[:, ::-1])[:, :dim], dtype=np.float32)


def _sample(matrix, count):
    """At most count rows of matrix, evenly spread (the same rows on every run)."""
    step = max(1, len(matrix) // max(count, 1))
    return np.asarray(matrix[::step][:count], np.float32)


def _project(matrix, basis, order=None, chunk=8192):
    """Rows of matrix (in `order`, if given) on the basis, each scaled to length 1 (a zero row stays zero)."""
    order = np.arange(len(matrix)) if order is None else order
    out = np.empty((len(order), basis.shape[1]), np.float32)
    for start in range(0, len(order), chunk):
        out[start:start + chunk] = np.asarray(matrix[order[start:start + chunk]], np.float32) @ basis
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def _rows_with_all(rows, matrices, same, k, progress, floor):
    """(triples, best score, best index) of some rows (a re-run's new items) against every item."""
    n, found, buffers = len(matrices.upright), [], TileBuffers()
    best, best_index = np.full(len(rows), -np.inf), np.full(len(rows), -1)
    for begin in range(0, len(rows), TILE):
        block, kept = rows[begin:begin + TILE], []
        for start in range(0, n, TILE):
            sims = _tile(matrices, block, same, start, min(n, start + TILE), buffers)
            _best_of_tile(sims, best[begin:begin + TILE], best_index[begin:begin + TILE], start)
            kept.append(_top_of_tile(sims, block, start, k, floor))
            progress(begin, len(rows))
        found.append(_keep_top(np.concatenate(kept), k))
    progress(len(rows), len(rows))
    return found, best, best_index


def _all_with_all(rows, matrices, same, k, progress, floor):
    """_rows_with_all for every item, each tile computed once for both of its blocks (the matrix is symmetric):
    half the products. Only row-wise passes over a tile: reading a tile by columns costs 10-20x as much."""
    n, found, buffers = len(rows), [], TileBuffers()
    best, best_index, best_block = np.full(n, -np.inf), np.full(n, -1), np.full(n, -1)
    starts = list(range(0, n, TILE))
    pending = {start: [] for start in starts}
    for i in starts:
        block = rows[i:i + TILE]
        for j in starts[starts.index(i):]:
            stop = min(n, j + TILE)
            sims = _tile(matrices, block, same, j, stop, buffers)
            row_max = _best_of_tile(sims, best[i:i + TILE], best_index[i:i + TILE], j)
            mine, theirs = _hits_both_ways(sims, row_max, block, j, k, floor)
            pending[i].append(mine)
            if j > i:  # the same tile read the other way: rows of block j against block i
                _best_of_columns(sims, best[j:stop], best_index[j:stop], best_block[j:stop], i)
                pending[j].append(theirs)
                if len(pending[j]) > 8:  # bounded memory when many items are alike
                    pending[j] = [_keep_top(np.concatenate(pending[j]), k)]
            progress(i, n)
        found.append(_keep_top(np.concatenate(pending.pop(i)), k))
    _settle_best_index(matrices, same, best_index, best_block, n)
    progress(n, n)
    return found, best, best_index


def _hits_both_ways(sims, row_max, block, start, k, floor):
    """_top_of_tile of the tile and of its transpose, from one pass over the rows that reach the floor."""
    live = np.flatnonzero(row_max >= floor)
    r, c = np.nonzero(sims[live] >= floor)
    r = live[r]
    rows_first = np.column_stack([block[r].astype(np.float64), (c + start).astype(np.float64), sims[r, c]])
    columns_first = rows_first[:, [1, 0, 2]]
    if len(r) and np.bincount(r).max() > k:
        rows_first = _top_of_tile(sims, block, start, k, floor)
    if len(c) and np.bincount(c).max() > k:
        crowded = np.flatnonzero(np.bincount(c) > k)
        columns_first = np.concatenate([columns_first[~np.isin(c, crowded)],
                                        _crowded_columns(sims, block, start, crowded, k, floor)])
    return rows_first, columns_first


def _crowded_columns(sims, block, start, crowded, k, floor):
    """(column item, row item, score) of the k best rows of each crowded column of a tile."""
    triples = _top_of_tile(np.ascontiguousarray(sims[:, crowded].T), crowded + start, 0, k, floor)
    triples[:, 1] = block[triples[:, 1].astype(np.int64)]
    return triples


def _best_of_columns(sims, best, best_index, best_block, start):
    """_best_of_tile of the tile's columns by value only: the index is found afterwards, in the block that gave
    the best value (_settle_best_index), as an argmax down columns costs 20x a max."""
    value = sims.max(axis=0)
    better = value > best
    best[better], best_index[better], best_block[better] = value[better], -2, start


def _settle_best_index(matrices, same, best_index, best_block, n):
    """The index of each best value that _best_of_columns found by value: the first maximum of its block."""
    for start in np.unique(best_block[best_index == -2]):
        items = np.flatnonzero((best_index == -2) & (best_block == start))
        sims = _tile(matrices, items, same, start, min(n, start + TILE))
        best_index[items] = sims.argmax(axis=1) + start


def _tile(matrices, block, same, start, stop, buffers=None):
    """Similarities of a block of rows with items start..stop: identical files 1.0, an item with itself -inf
    (in buffers' memory when given: valid until the next tile)."""
    sims = tile_similarity(matrices, block, start, stop, buffers)
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


def view_matrices(views, dtype=np.float32):
    """ViewMatrices of an n x views x dim array (upright, canonical, second canonical)."""
    views = np.asarray(views, dtype=dtype)
    upright, canonical = np.ascontiguousarray(views[:, 0]), np.ascontiguousarray(views[:, 1])
    second = np.flatnonzero(np.any(views[:, 2] != views[:, 1], axis=1)) if views.shape[1] > 2 else np.zeros(0, int)
    return ViewMatrices(upright, canonical, np.ascontiguousarray(views[second, 2]), second)


def gather_views(n, dim, rows_of_views):
    """ViewMatrices of n items from (index, views array) pairs, filled in place: a large batch's views are
    never held twice (and, from APPROXIMATE_FROM items, held as float16: full views only score candidates)."""
    dtype = view_dtype(n)
    upright, canonical = np.zeros((n, dim), dtype), np.zeros((n, dim), dtype)
    second, second_views = [], []
    for index, views in rows_of_views:
        upright[index], canonical[index] = views[0], views[1]
        if len(views) > 2 and not np.array_equal(views[2], views[1]):
            second.append(index)
            second_views.append(views[2].astype(dtype))
    order = np.argsort(second, kind="stable")
    stacked = np.stack(second_views)[order] if second_views else np.zeros((0, dim), dtype)
    return ViewMatrices(upright, canonical, stacked, np.asarray(second, dtype=np.int64)[order])


class TileBuffers:
    """Two tiles' worth of float32 memory, reused from tile to tile of one comparison: fresh 16 MB results
    cost their page faults every time (a 96-d tile's two products: 13 -> 8 ms)."""

    def __init__(self, side=TILE):
        self._memory = [np.empty(side * side, np.float32) for _ in range(2)]

    def products(self, rows, columns):
        """The two rows x columns arrays (contiguous, contents undefined); None if a tile is larger."""
        if rows * columns > len(self._memory[0]):
            return None
        return [memory[:rows * columns].reshape(rows, columns) for memory in self._memory]


def tile_similarity(matrices, rows, start, stop, buffers=None):
    """view_similarity (len(rows) x stop - start) of items `rows` (ascending) with items start..stop, from
    ViewMatrices; in buffers' memory (TileBuffers) when given."""
    upright, canonical, second_views, second = matrices
    out = buffers.products(len(rows), stop - start) if buffers is not None else None
    if out is None:
        sims = upright[rows] @ upright[start:stop].T
        np.maximum(sims, canonical[rows] @ canonical[start:stop].T, out=sims)
    else:
        sims, other = out
        np.matmul(upright[rows], upright[start:stop].T, out=sims)
        np.maximum(sims, np.matmul(canonical[rows], canonical[start:stop].T, out=other), out=sims)
    if len(second) and second[-1] == len(second) - 1:
        _second_views_first(sims, matrices, rows, start, stop)
        return sims
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


def _second_views_first(sims, matrices, rows, start, stop):
    """tile_similarity's second canonical views when the items that have one come first (reduced_matrices):
    their rows and columns are slices of the tile."""
    _upright, canonical, second_views, second = matrices
    row_end = int(np.searchsorted(rows, len(second)))
    col_end = max(0, min(stop, len(second)) - start)
    if row_end:
        part = sims[:row_end]
        np.maximum(part, second_views[rows[:row_end]] @ canonical[start:stop].T, out=part)
    if col_end:
        part = sims[:, :col_end]
        np.maximum(part, canonical[rows] @ second_views[start:start + col_end].T, out=part)
    if row_end and col_end:
        part = sims[:row_end, :col_end]
        np.maximum(part, second_views[rows[:row_end]] @ second_views[start:start + col_end].T, out=part)


def _mark_same_content(sims, block, same, start, stop):
    """Identical files count as 1.0; an item is never its own neighbour."""
    inside = np.flatnonzero((block >= start) & (block < stop))
    sims[inside, block[inside] - start] = -np.inf
    here = same[(same[:, 1] >= start) & (same[:, 1] < stop)]
    sims[np.searchsorted(block, here[:, 0]), here[:, 1] - start] = 1.0


def _best_of_tile(sims, best, best_index, start):
    """Carry each row's best score and its first index across tiles; returns the tile's row maxima."""
    index = sims.argmax(axis=1)
    value = sims[np.arange(len(sims)), index]
    better = value > best
    best[better], best_index[better] = value[better], index[better] + start
    return value


def _top_of_tile(sims, block, start, k, floor):
    """(row, column, score) above the floor, at most k per row."""
    above = sims >= floor
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
    found = [_near_codes(hashes[rows, 0], rows, variants, owners, radius, chunk_bits)]
    if not is_row.all():  # with every item a row, the other direction is this same search (half the time)
        found.append(_near_codes(hashes[:, 0], everyone, variants[row_variants], owners[row_variants], radius,
                                 chunk_bits))
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


def _pair_similarity(matrices, a, b, chunk=1024):
    """view_similarity of item a[i] with item b[i], for arrays of pairs."""
    # 1,024 pairs a chunk: the gathered views (2.6 MB an array) are reused memory, where 8,192 (21 MB) were fresh
    # mappings whose page faults cost a quarter of the time (100,000 items: 9.2 -> 6.9 us a pair).
    out = np.empty(len(a), np.float32)
    for start in range(0, len(a), chunk):
        x, y = a[start:start + chunk], b[start:start + chunk]
        out[start:start + chunk] = _pair_similarity_chunk(matrices, x, y)
    return out


def _pair_similarity_chunk(matrices, a, b):
    upright, canonical, second_views, _second = matrices
    best = _rowwise_dot(upright[a], upright[b])
    np.maximum(best, _rowwise_dot(canonical[a], canonical[b]), out=best)
    # Only the 15 % of items with a second canonical view need its products (a view equal to the first adds
    # nothing to the maximum).
    where_a, where_b = _second_view_index(matrices, a), _second_view_index(matrices, b)
    has_a, has_b = where_a >= 0, where_b >= 0
    for pairs, views_a, views_b in ((has_a, second_views[where_a[has_a]], canonical[b[has_a]]),
                                    (has_b, canonical[a[has_b]], second_views[where_b[has_b]]),
                                    (has_a & has_b, second_views[where_a[has_a & has_b]],
                                     second_views[where_b[has_a & has_b]])):
        if len(views_a):
            best[pairs] = np.maximum(best[pairs], _rowwise_dot(views_a, views_b))
    return best


def _rowwise_dot(x, y):
    """x[i] . y[i], summed in float32 (float16 rows, a large batch's views, lose too many digits otherwise)."""
    return np.einsum("ij,ij->i", x, y, dtype=np.float32)


def _second_view_index(matrices, items):
    """Each item's row in second_views, -1 for items without a second canonical view."""
    second = matrices.second
    if not len(second):
        return np.full(len(items), -1)
    where = np.minimum(np.searchsorted(second, items), len(second) - 1)
    return np.where(second[where] == items, where, -1)


def pair_hash_distance(hashes, a, b):
    """Smallest pHash distance of item a[i] and b[i] over the eight variants either way round, and the upright
    one."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    forward = np.bitwise_count(hashes[a, 0][:, None] ^ hashes[b]).astype(np.int64)
    backward = np.bitwise_count(hashes[a] ^ hashes[b, 0][:, None]).astype(np.int64)
    return np.minimum(forward.min(axis=1), backward.min(axis=1)), forward[:, 0]
