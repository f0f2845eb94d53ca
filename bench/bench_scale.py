"""Scale (issue 10): comparison + grouping of one batch of 10,000 and 100,000 items, the worker's peak RSS, and
database bytes per item. Figures, not tests.

    .venv/bin/python bench/bench_scale.py                  # every figure of issue 10 (below), about 25 minutes
    .venv/bin/python bench/bench_scale.py --scale-only     # comparison, memory and storage at 10,000 and 100,000
    .venv/bin/python bench/bench_scale.py 10000 --keep DIR  # one size; keep the instance in DIR
    .venv/bin/python bench/bench_scale.py --recall           # reduced views against full ones, real photos
    .venv/bin/python bench/bench_scale.py 100000 --crowd 11  # a crowded batch: clusters of 11 alike items
    .venv/bin/python bench/bench_scale.py --scan-views       # memory of `flask zeuge scan`'s views at 100,000

After the comparison of the 100,000-item batch, the same instance is served by the Procfile's web line for
the pages (bench_pages.measure_pages; also an archive of 100 batches x 1,000) and the exports
(bench_exports.measure_exports, on a copy with stand-in files); then bench_app_vs_scan.py (cold analysis
through the app against `flask zeuge scan`, one run) and bench_load.py --uploads 2000 (uploads while a run is
active) run as they are, each in its own process.

Features are synthetic and go in through the project's own functions (upsert_file, add_item, save_features):
random unit vectors (1,280-d, as the default model) and random pHashes, with planted clusters of three
(an original and two copies at cosine 0.80-0.97; half of the copies keep the original's pHash within 0-6
bits). As in the dev photos, 63 % of the items have a canonical view other than the upright one and 15 % a
second one. The comparison and grouping run in a fresh process (as the worker runs them), which reports its
own peak RSS (VmHWM)."""
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from zeuge_lite import analysis, queries  # noqa: E402
from zeuge_lite import queries_similarity as qs  # noqa: E402
from zeuge_lite.db import connect, migrate, transaction  # noqa: E402
from zeuge_lite.similarity.embedding import MODELS  # noqa: E402
from zeuge_lite.similarity.features import Features  # noqa: E402

MODEL = "efficientnet-lite0"
CLUSTER_EVERY = 25  # an original at every 25th item, its two copies right after it: 12 % of items in clusters
CHUNK = 5_000


def unit(rows):
    """Rows scaled to length 1, as float32."""
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def synthetic_views(rng, count, dim):
    """count x 3 x dim views: upright, canonical (the upright one for 37 %), second canonical (other for 15 %)."""
    views = unit(rng.normal(size=(count, 3, dim)))
    same_turn = rng.random(count) < 0.37
    views[same_turn, 1] = views[same_turn, 0]
    one_choice = rng.random(count) >= 0.15
    views[one_choice, 2] = views[one_choice, 1]
    return views


def copy_of(rng, views, hashes):
    """A near-duplicate: every view moved to cosine 0.80-0.97 of the original's; the pHash kept within 0-6 bits
    for half of the copies (a re-scan), another pHash for the others (a crop)."""
    sigma = rng.uniform(0.25, 0.75)
    moved = unit(views + sigma * rng.normal(size=views.shape) / np.sqrt(views.shape[-1]))
    if np.array_equal(views[1], views[0]):  # a canonical view equal to the upright one stays equal to it
        moved[1] = moved[0]
    if np.array_equal(views[2], views[1]):
        moved[2] = moved[1]
    if rng.random() < 0.5:
        flips = rng.choice(64, size=int(rng.integers(0, 7)), replace=False)
        return moved, hashes ^ np.uint64(sum(1 << int(bit) for bit in flips))
    return moved, rng.integers(0, 2**63, size=8, dtype=np.int64).astype(np.uint64)


def build(path, n, seed=10, cluster=3, every=CLUSTER_EVERY):
    """A database with one archive and one batch of n analysed items; returns the batch id. Every `every` items
    an original and cluster - 1 copies of it (--crowd N: clusters of N, every item in one)."""
    rng, spec = np.random.default_rng(seed), MODELS[MODEL]
    conn = connect(path)
    migrate(conn)
    qs.ensure_vec_table(conn, spec)
    with transaction(conn):
        batch = queries.create_batch(conn, queries.create_archive(conn, "Scale", "pro"), f"{n:,} items")
    for start in range(0, n, CHUNK):
        views = synthetic_views(rng, min(CHUNK, n - start), spec.dim)
        hashes = rng.integers(0, 2**63, size=(len(views), 8), dtype=np.int64).astype(np.uint64)
        for i in range(len(views)):
            offset = (start + i) % every
            if 0 < offset < cluster and i >= offset:
                original = i - offset
                views[i], hashes[i] = copy_of(rng, views[original], hashes[original])
        with transaction(conn):
            add_items(conn, spec, batch, start, views, hashes, lambda i, start=start: f"{start + i:06d}.jpg")
    conn.close()
    return batch


def add_items(conn, spec, batch, first, views, hashes, name):
    """Synthetic analysed items through the project's functions: contents numbered from `first`, the i-th
    named name(i)."""
    for i, (item_views, item_hashes) in enumerate(zip(views, hashes)):
        sha = f"{first + i:064x}"
        queries.upsert_file(conn, {"sha256": sha, "size": 1, "ext": "jpg", "format": "JPEG", "mode": "RGB",
                                   "bit_depth": 8, "width": 640, "height": 480, "dpi": None, "frames": 1,
                                   "taken_at": None, "camera": None, "orientation": None, "sharpness": None})
        queries.add_item(conn, batch, sha, name(i), None)
        qs.save_features(conn, spec, sha, Features(640, 480, item_hashes, item_views))


def job(path, batch):
    """The worker's part in this process: compare the batch, group it; print timings and peak RSS as JSON."""
    conn = connect(path)
    stages, start = [], time.perf_counter()

    def progress(stage, done=0, total=0):
        if not stages or stages[-1][0] != stage:
            stages.append((stage, round(time.perf_counter() - start, 2)))
    compared = analysis.compare_batch(conn, batch, MODEL, progress=progress)
    compare_s = time.perf_counter() - start
    groups = analysis.batch_groups(conn, batch, MODEL)
    group_s = time.perf_counter() - start - compare_s
    pairs = conn.execute("SELECT count(*) FROM pairs WHERE batch_id = ?", (batch,)).fetchone()[0]
    print(json.dumps({"compared": compared, "compare_s": compare_s, "group_s": group_s, "pairs": pairs,
                      "groups": len(groups), "grouped_items": sum(len(ids) for _g, ids in groups),
                      "peak_rss_mb": peak_rss_mb(), "stages": stages}))


def peak_rss_mb():
    """This process's peak resident set (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def storage(path, n):
    """Bytes per item of the database file, and the tables holding the most data, per item (the bytes of their
    values: sqlite's dbstat is not compiled in here; the rest of the file is indexes and page slack)."""
    conn = connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = Path(path).stat().st_size
    parts = []
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE "
                                 "'CREATE VIRTUAL%'").fetchall():
        columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]
        total = " + ".join(f'coalesce(length("{c}"), 0)' for c in columns) or "0"
        parts.append((table, conn.execute(f'SELECT coalesce(sum({total}), 0) FROM "{table}"').fetchone()[0]))
    conn.close()
    return size, [(name, value / n) for name, value in sorted(parts, key=lambda p: -p[1])[:6]]


def gemm_gflops():
    """This box's float32 matrix-product speed right now (the comparison's cost is these products): the same
    code runs 5-7x slower while other work loads the 2 cores, so figures are printed with it."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((4096, 1280), dtype=np.float32) for _ in range(2))
    started = time.perf_counter()
    for _ in range(3):
        a @ b.T
    return 3 * 2 * 4096 * 4096 * 1280 / (time.perf_counter() - started) / 1e9


def run_size(n, keep=None, app_figures=False, crowd=None):
    """Build, compare + group in a fresh process, report; then, if asked, the pages and exports of the batch."""
    workdir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="zeuge-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"scale-{n}.sqlite3"
    path.unlink(missing_ok=True)
    started = time.perf_counter()
    batch = build(path, n, cluster=crowd, every=crowd) if crowd else build(path, n)
    shape = f" in clusters of {crowd}" if crowd else ""
    print(f"== {n:,} items{shape}: built in {time.perf_counter() - started:.0f} s")
    before, _parts = storage(path, n)
    out = subprocess.run([sys.executable, __file__, "--job", str(path), str(batch)], capture_output=True, text=True)
    if out.returncode:
        print(out.stdout, out.stderr)
        return
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"  float32 matrix products on this box just after: {gemm_gflops():.0f} GFLOPS (about 210 when idle)")
    size, parts = storage(path, n)
    print(f"  compare: {figures['compare_s']:.1f} s ({figures['compared']:,} items, {figures['pairs']:,} pairs "
          f"stored), group: {figures['group_s']:.2f} s ({figures['groups']:,} groups, "
          f"{figures['grouped_items']:,} items); compare + group {figures['compare_s'] + figures['group_s']:.1f} s")
    print(f"  stages (s from start): {', '.join(f'{stage} {at}' for stage, at in figures['stages'])}")
    print(f"  worker peak RSS: {figures['peak_rss_mb']:.0f} MB")
    print(f"  database: {size / n / 1024:.1f} KB per item after comparing ({before / n / 1024:.1f} KB before); "
          f"data per item in the largest tables: " + ", ".join(f"{name} {per_item / 1024:.2f} KB"
                                                              for name, per_item in parts))
    if app_figures:
        pages_and_exports(path, batch, workdir)
    if not keep:
        shutil.rmtree(workdir)


def pages_and_exports(path, batch, workdir):
    """The compared batch's pages and exports through the Procfile's web line, and the pages of an archive of
    100 batches x 1,000 (built in workdir)."""
    import bench_exports
    import bench_pages
    bench_pages.prepare(path)
    bench_pages.measure_pages(path, batch_id=batch, label=f"pages: one batch of {count_items(path, batch):,} items")
    archive, middle = bench_pages.instance(workdir, "archive")
    bench_pages.measure_pages(archive, batch_id=middle, archive_scope=True,
                              label="pages: an archive of 100 batches x 1,000, batch of the middle")
    print("  exports of the batch (the web line restarted per export; peak RSS growth of the web process):")
    bench_exports.main(["--db", str(path), "--batch", str(batch), "--workdir", str(workdir / "exports")])


def count_items(path, batch):
    """How many items the batch holds."""
    conn = connect(path)
    try:
        return queries.count_items(conn, batch)
    finally:
        conn.close()


def other_benches():
    """bench_app_vs_scan.py and bench_load.py --uploads 2000 as they are, each in its own process."""
    here = Path(__file__).resolve().parent
    uploads = ["--uploads", "2000", "--live-items", "2000"]
    for title, command in (("cold analysis: the app's run against `flask zeuge scan`, one run",
                            [sys.executable, str(here / "bench_app_vs_scan.py")]),
                           ("uploads of 2,000 photos while a run is active",
                            [sys.executable, str(here / "bench_load.py"), *uploads])):
        print(f"== {title}", flush=True)
        subprocess.run(command, check=False)


SHARED = Path(__file__).resolve().parents[2] / "shared" / "photos"


def real_features(folders):
    """(shas, hashes, views) of every readable image in the folders, from the shipped model (evaluation only)."""
    from zeuge_lite.similarity.parallel import analyse_files
    files = sorted(p for folder in folders for p in folder.rglob("*") if p.is_file() and p.suffix != ".json")
    shas, hashes, views = [], [], []
    for _path, sha, features, error in analyse_files(files, MODEL, 300_000_000):
        if not error:
            shas.append(sha)
            hashes.append(features.hashes)
            views.append(features.vectors)
    return shas, np.stack(hashes), np.stack(views)


def approximate_recall(folders=(SHARED / "dev" / "images", SHARED / "docs-dev" / "images")):
    """Pairs of the reduced-view path against the full comparison on real embeddings: recall by cosine band,
    the largest error of an item's nearest score, and whether the unverified groups are the same."""
    from zeuge_lite.similarity import neighbours
    from zeuge_lite.similarity.grouping import Thresholds, group_items
    shas, hashes, views = real_features(folders)
    exact_pairs, exact_nearest, _ = neighbours.candidate_pairs(shas, hashes, views)
    neighbours.APPROXIMATE_FROM = 0
    started = time.perf_counter()
    pairs, nearest, _ = neighbours.candidate_pairs(shas, hashes, views)
    seconds = time.perf_counter() - started
    found = {(p.a, p.b) for p in pairs}
    print(f"== reduced views ({neighbours.REDUCED_DIM}-d) against full ones: {len(shas)} real photos and pages, "
          f"{len(exact_pairs):,} candidate pairs, {seconds:.1f} s")
    for low, high in ((0.55, 0.60), (0.60, 0.74), (0.74, 1.01)):
        band = [(p.a, p.b) for p in exact_pairs if low <= p.cosine < high]
        share = sum(pair in found for pair in band) / max(len(band), 1)
        print(f"  cosine {low:.2f}-{min(high, 1):.2f}: {share:.4f} of {len(band):,} pairs found")
    print(f"  nearest score, largest error: {np.abs(nearest - exact_nearest).max():.4f}")
    same = [g.members for g in group_items(pairs, Thresholds())] == \
        [g.members for g in group_items(exact_pairs, Thresholds())]
    print(f"  unverified groups at the default thresholds: {'the same' if same else 'DIFFERENT'}")


def scan_views_memory(n=100_000, dim=1280):
    """Peak memory (tracemalloc) of `flask zeuge scan`'s views for n files, from the first pass's per-file
    float16 views to the comparison's matrices (scan.comparison_views), in the dev photos' mix of views."""
    import tracemalloc
    from zeuge_lite.similarity.scan import comparison_views
    rng = np.random.default_rng(7)
    tracemalloc.start()
    vectors = []
    for i in range(n):
        views = rng.standard_normal((3, dim), dtype=np.float32).astype(np.float16)
        views[1] = views[0] if i % 100 >= 63 else views[1]  # 63 % have a canonical view of their own
        views[2] = views[1] if i % 100 >= 15 else views[2]  # 15 % a second one
        vectors.append(views)
    matrices = comparison_views(vectors)
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  flask zeuge scan's views for {n:,} files: peak {peak / 2**30:.2f} GiB, held for the comparison "
          f"{held / 2**30:.2f} GiB ({len(matrices.second):,} second views)")


def main():
    if "--scan-views" in sys.argv:
        return scan_views_memory()
    if "--recall" in sys.argv:
        return approximate_recall()
    if "--job" in sys.argv:
        path, batch = sys.argv[sys.argv.index("--job") + 1:][:2]
        return job(path, int(batch))
    keep = sys.argv[sys.argv.index("--keep") + 1] if "--keep" in sys.argv else None
    crowd = int(sys.argv[sys.argv.index("--crowd") + 1]) if "--crowd" in sys.argv else None
    sizes = [int(a) for a in sys.argv[1:] if a.isdigit() and a != str(crowd)]
    everything = not sizes and "--scale-only" not in sys.argv and not crowd
    for n in sizes or [10_000, 100_000]:
        run_size(n, keep, app_figures=everything and n == 100_000, crowd=crowd)
    if everything:
        other_benches()


if __name__ == "__main__":
    main()
