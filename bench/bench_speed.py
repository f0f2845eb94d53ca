"""Speed of the similarity engine on this machine: prints figures, asserts nothing.

    .venv/bin/python bench/bench_speed.py [DEV_IMAGES_DIR]

Sections: stage breakdown, cold throughput vs a naive loop (dev photos, docs-dev pages, made-up 12 MP JPEG scans;
`--throughput-only` runs the first two alone),
500 items cold and +10 items to 1,000 through the app's run code, regrouping 10,000 items,
a similar-items query at 100,000 vectors, and the peak RSS of a process doing only the worker's job.
"""
import io
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zeuge_lite import analysis, queries  # noqa: E402
from zeuge_lite import queries_similarity as qs  # noqa: E402
from zeuge_lite.db import connect, migrate, transaction  # noqa: E402
from zeuge_lite.ingest import IngestLimits, ingest_upload  # noqa: E402
from zeuge_lite.similarity.decode import decode_rgb, open_image  # noqa: E402
from zeuge_lite.similarity.embedding import MODELS, coarse_codes, get_embedder, preprocess, runs_int8_exactly  # noqa: E402
from zeuge_lite.similarity.features import ANALYSIS_SIDE, Features  # noqa: E402
from zeuge_lite.similarity.grouping import Thresholds, group_items  # noqa: E402
from zeuge_lite.similarity.neighbours import candidate_pairs  # noqa: E402
from zeuge_lite.similarity.hashing import dihedral_phashes, hash_input  # noqa: E402
from zeuge_lite.similarity.orientation import canonical_turns  # noqa: E402
from zeuge_lite.similarity.parallel import default_workers  # noqa: E402
from zeuge_lite.similarity.scan import scan_folder  # noqa: E402
from zeuge_lite.storage import Storage  # noqa: E402

MODEL = "efficientnet-lite0"
DEFAULT_DEV = Path(__file__).resolve().parents[2] / "shared" / "photos" / "dev" / "images"
DEFAULT_DOCS = DEFAULT_DEV.parents[1] / "docs-dev" / "images"
MAX_PIXELS = 300_000_000


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def readable_images(folder):
    files = []
    for path in sorted(folder.iterdir()):
        try:
            with Image.open(path) as image:
                image.load()
            files.append(path)
        except Exception:  # noqa: S112 - a file Pillow cannot read is not a benchmark photo
            continue
    return files


def naive_loop(paths, model=MODEL):
    """One file at a time, full decode, one model pass, pHash of the full image: what a first try does."""
    embedder = get_embedder(model)
    session, spec = embedder.session, MODELS[model]
    for path in paths:
        image = Image.open(path).convert("RGB")
        session.run([spec.output_name], {spec.input_name: preprocess(spec, [image])})
        imagehash.phash(image)


def hash_and_orient(rgb):
    """The hash stage as extract_features runs it: eight pHashes and the canonical turns from one reduction."""
    gray = hash_input(rgb)
    return dihedral_phashes(rgb, gray), canonical_turns(gray)


def stage_breakdown(paths):
    """Mean ms per image for decode / hash / embed / store, and group time for the set, one process."""
    embedder = get_embedder(MODEL, threads=1)
    totals = dict(decode=0.0, hash=0.0, embed=0.0, store=0.0)
    workdir = Path(tempfile.mkdtemp())
    conn = connect(workdir / "bench.sqlite3")
    migrate(conn)
    spec = MODELS[MODEL]
    qs.ensure_vec_table(conn, spec)
    shas, hashes, views, passes = [], [], [], 0
    for n, path in enumerate(paths):
        data = path.read_bytes()
        rgb, t = timed(lambda data=data: decode_rgb(open_image(data, MAX_PIXELS), ANALYSIS_SIDE))
        totals["decode"] += t
        (h, turns), t = timed(hash_and_orient, rgb)
        totals["hash"] += t
        v, t = timed(embedder.embed_views, rgb, (0, *turns))
        totals["embed"] += t
        passes += len({0, *turns})
        sha = f"{n:064x}"
        conn.execute("INSERT INTO files (sha256, size, ext, format, mode, width, height) VALUES (?, 1, 'jpg', "
                     "'JPEG', 'RGB', 1, 1)", (sha,))
        _, t = timed(qs.save_features, conn, spec, sha, Features(rgb.width, rgb.height, h, v))
        totals["store"] += t
        shas.append(sha), hashes.append(h), views.append(v)
    (pairs, _n, _i), t_pairs = timed(candidate_pairs, shas, np.stack(hashes), np.stack(views))
    _, t_group = timed(group_items, pairs, Thresholds())
    conn.close()
    shutil.rmtree(workdir)
    per = {k: 1000 * v / len(paths) for k, v in totals.items()}
    print(f"  stage breakdown over {len(paths)} photos (ms per photo, one process, one thread): "
          + ", ".join(f"{k} {v:.1f}" for k, v in per.items())
          + f"; compare+group {1000 * (t_pairs + t_group):.0f} ms for the whole set; "
          f"{passes / len(paths):.2f} model passes per photo (upright + canonical turns)")


def cold_throughput(label, paths):
    """Full pipeline against the naive loop on the same files, in a fresh process as `flask zeuge scan` is."""
    import subprocess
    folder = Path(tempfile.mkdtemp())
    for path in paths:
        (folder / path.name).symlink_to(path.resolve())
    out = subprocess.run([sys.executable, __file__, "--throughput", label, str(folder)], capture_output=True,
                         text=True, check=True)
    print(out.stdout.rstrip())
    shutil.rmtree(folder)


def cpu_seconds():
    """CPU time of this process and its finished children (the scan's workers): steal on a shared VM moves
    wall time far more than this."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def throughput_job(label, folder):
    """Inside the fresh process: the pipeline first (scan_folder, default workers), then the naive loop."""
    paths = sorted(Path(folder).iterdir())
    cpu = cpu_seconds()
    result, t_ours = timed(scan_folder, folder, MODEL, Thresholds(), MAX_PIXELS)
    cpu_ours, cpu = cpu_seconds() - cpu, cpu_seconds()
    _, t_naive = timed(naive_loop, paths)
    cpu_naive = cpu_seconds() - cpu
    _, t_naive_fp32 = timed(naive_loop, paths, "efficientnet-lite0-fp32")
    ours, naive = len(paths) / t_ours, len(paths) / t_naive
    graph = "int8" if runs_int8_exactly() else "its fp32 fallback graph on this CPU"
    print(f"  {label}: pipeline {ours:.1f} images/s ({t_ours:.1f} s, {len(result.groups)} groups), "
          f"naive loop with the same model ({MODEL}, {graph}) {naive:.1f} images/s -> ratio {ours / naive:.2f}x "
          f"(naive loop with the fp32 graph: {len(paths) / t_naive_fp32:.1f} images/s); CPU: pipeline "
          f"{cpu_ours:.1f} s on {default_workers()} workers, naive loop {cpu_naive:.1f} s")


def make_12mp_scans(sources, count, folder):
    """4000 x 3000 JPEG 'scans' made from real photos (upscaled, grain added), about 3-5 MB each."""
    rng = np.random.default_rng(0)
    paths = []
    for n in range(count):
        base = Image.open(sources[n % len(sources)]).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
        grain = rng.normal(0, 6, (3000, 4000, 1))
        pixels = np.clip(np.asarray(base, dtype=np.float32) + grain, 0, 255).astype(np.uint8)
        path = folder / f"scan_{n:03d}.jpg"
        Image.fromarray(pixels).save(path, quality=92)
        paths.append(path)
    return paths


def fresh_instance(workdir):
    """(connection, storage, upload limits, batch id): a migrated database with one Pro archive and one batch."""
    conn = connect(workdir / "app.sqlite3")
    migrate(conn)
    with transaction(conn):
        archive = queries.create_archive(conn, "Bench", "pro")
        batch = queries.create_batch(conn, archive, "Bench")
    return conn, Storage(workdir / "storage"), IngestLimits(10**9, MAX_PIXELS, 320, 1600), batch


def app_runs(paths):
    """500 items cold, then +10 items to 1,000, through the app's run code (huey task body, no queue)."""
    workdir = Path(tempfile.mkdtemp())
    conn, storage, limits, batch = fresh_instance(workdir)
    settings = analysis.AnalysisSettings(MODEL, str(workdir / "models"), MAX_PIXELS)

    def add(files, tag):
        for n, path in enumerate(files):
            data = path.read_bytes() if isinstance(path, Path) else path
            ingest_upload(conn, storage, limits, batch, None, f"{tag}{n}.jpg", data)

    def run():
        run_row, _ = analysis.start_or_get_run(conn, batch, MODEL, {}, None)
        _, seconds = timed(analysis.run_analysis, conn, storage, run_row["id"], settings)
        return seconds, qs.run_by_id(conn, run_row["id"])

    add(paths[:500], "a")
    seconds, row = run()
    print(f"  500 items cold: {seconds:.1f} s ({row['computed']} computed, status {row['status']})")
    add(variants(paths, 500), "b")
    seconds, row = run()
    print(f"  grow to 1,000 items: {seconds:.1f} s ({row['computed']} computed)")
    add(variants(paths[::7], 10, offset=3), "c")
    seconds, row = run()
    print(f"  re-run after adding 10 items to 1,000: {seconds:.2f} s ({row['computed']} computed)")
    conn.close()
    shutil.rmtree(workdir)


def variants(paths, count, offset=0):
    """Made-up new photos: mirrored, slightly cropped copies of real ones (new content hashes)."""
    out = []
    for n in range(count):
        image = Image.open(paths[(n + offset) % len(paths)]).convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        w, h = image.size
        buffer = io.BytesIO()
        image.crop((n % 7, n % 5, w - 3, h - 2)).save(buffer, "JPEG", quality=88)
        out.append(buffer.getvalue())
    return out


def regroup_10k():
    """Stored pairs of 10,000 items (clusters plus noise), regrouped at a new threshold from SQLite."""
    rng = np.random.default_rng(1)
    workdir = Path(tempfile.mkdtemp())
    conn = connect(workdir / "pairs.sqlite3")
    migrate(conn)
    with transaction(conn):
        archive = queries.create_archive(conn, "Bench", "pro")
        batch = queries.create_batch(conn, archive, "Bench")
        conn.execute("INSERT INTO files (sha256, size, ext, format, mode, width, height) VALUES ('x', 1, 'jpg', "
                     "'JPEG', 'RGB', 1, 1)")
        conn.executemany("INSERT INTO items (id, batch_id, sha256, filename, position) VALUES (?, ?, 'x', ?, ?)",
                         [(i + 1, batch, f"{i}.jpg", i) for i in range(10_000)])
        rows = []
        for start in range(0, 9_000, 3):  # 3,000 triples of near-duplicates
            for a, b in ((start, start + 1), (start, start + 2), (start + 1, start + 2)):
                rows.append((a + 1, b + 1, float(rng.uniform(0.7, 0.99)), int(rng.integers(0, 30)), 0, 0))
        for _ in range(40_000):  # background of weakly related pairs above the candidate floor
            a, b = sorted(rng.choice(10_000, 2, replace=False))
            rows.append((int(a) + 1, int(b) + 1, float(rng.uniform(0.55, 0.75)), 30, 0, 0))
        qs.save_pairs(conn, batch, MODEL, rows)
    groups, seconds = timed(analysis.batch_groups, conn, batch, MODEL, Thresholds(cosine_similar=0.8))
    print(f"  regroup 10,000 items ({len(rows):,} stored pairs) at a new threshold: {seconds:.2f} s, "
          f"{len(groups)} groups")
    conn.close()
    shutil.rmtree(workdir)


def query_100k():
    """Similar-items queries (three views, k = 10) against 100,000 stored contents (about 225,000 views): in a
    batch that holds them all, in a 3,000-photo archive whose candidates the big one crowds out (the search
    widens), and in a 5-photo archive (scored whole)."""
    rng = np.random.default_rng(2)
    workdir = Path(tempfile.mkdtemp())
    conn = connect(workdir / "vec.sqlite3")
    migrate(conn)
    spec = MODELS[MODEL]
    qs.ensure_vec_table(conn, spec)
    centres = rng.normal(size=(2_000, spec.dim)).astype(np.float32)  # clustered, like photos of an archive
    with transaction(conn):
        big = queries.create_batch(conn, queries.create_archive(conn, "Big", "pro"), "All")
        small_archive = queries.create_archive(conn, "Small", "pro")
        small = queries.create_batch(conn, small_archive, "Five")
        middle_archive = queries.create_archive(conn, "Middle", "pro")
        middle = queries.create_batch(conn, middle_archive, "Three thousand")
        for start in range(0, 100_000, 5_000):
            block = np.abs(centres[rng.integers(0, 2_000, 5_000)] + rng.normal(size=(5_000, spec.dim)))
            block = (block / np.linalg.norm(block, axis=1, keepdims=True)).astype(np.float32)
            for i, vector in enumerate(block):
                sha = f"{start + i:064x}"
                conn.execute("INSERT INTO files (sha256, size, ext, format, mode, width, height) "
                             "VALUES (?, 1, 'jpg', 'JPEG', 'RGB', 1, 1)", (sha,))
                canonical = np.roll(vector, 7 * (i % 3))  # a stand-in canonical view (a permuted vector)
                views = np.stack([vector, canonical, canonical if i % 4 else vector[::-1]])
                qs.save_features(conn, spec, sha, Features(1, 1, np.zeros(8, np.uint64), views))
        conn.executemany("INSERT INTO items (batch_id, sha256, filename, position) VALUES (?, ?, ?, ?)",
                         [(big, f"{n:064x}", f"{n}.jpg", n) for n in range(100_000)])
        conn.executemany("INSERT INTO items (batch_id, sha256, filename, position) VALUES (?, ?, ?, ?)",
                         [(small, f"{int(n):064x}", f"{n}.jpg", i)
                          for i, n in enumerate(rng.choice(100_000, 5, replace=False))])
        conn.executemany("INSERT INTO items (batch_id, sha256, filename, position) VALUES (?, ?, ?, ?)",
                         [(middle, f"{int(n):064x}", f"{n}.jpg", i)
                          for i, n in enumerate(rng.choice(100_000, 3_000, replace=False))])
    query = block[:3] + rng.normal(scale=0.01, size=(3, spec.dim)).astype(np.float32)
    timings = sorted(timed(analysis.similar_items, conn, MODEL, query, 10, batch_id=big)[1] for _ in range(5))
    typical = query[[0, 1, 1]]  # most photos have one canonical choice: two searches instead of three
    typical_timings = sorted(timed(analysis.similar_items, conn, MODEL, typical, 10, batch_id=big)[1]
                             for _ in range(5))
    crowded = sorted(timed(analysis.similar_items, conn, MODEL, query, 10, archive_id=middle_archive)[1]
                     for _ in range(3))
    tiny = sorted(timed(analysis.similar_items, conn, MODEL, query, 10, archive_id=small_archive)[1]
                  for _ in range(3))
    codes = coarse_codes(query)
    coarse = min(timed(qs.coarse_neighbours, conn, spec, codes[0], 40, True)[1] for _ in range(3))
    print(f"  (one coarse k-NN among canonical views, k = 40: {1000 * coarse:.1f} ms)")
    print(f"  similar-items query at 100,000 vectors: {1000 * typical_timings[0]:.0f} ms (median "
          f"{1000 * typical_timings[2]:.0f} ms) for a photo with one canonical turn, {1000 * timings[0]:.0f} ms "
          f"(median {1000 * timings[2]:.0f} ms) with two; coarse codes + exact rescoring")
    print(f"  ... in a 3,000-photo archive on the same instance (the coarse search widens): "
          f"{1000 * crowded[0]:.0f} ms (median {1000 * crowded[1]:.0f} ms); in a 5-photo archive (scored whole): "
          f"{1000 * tiny[0]:.0f} ms")
    conn.close()
    shutil.rmtree(workdir)


def worker_rss():
    """Peak RSS of a fresh process doing the worker's job (a 500-item run), measured in that process."""
    import subprocess
    out = subprocess.run([sys.executable, __file__, "--worker-job"], capture_output=True, text=True, check=True)
    print(out.stdout.rstrip())


def worker_job(photos):
    """The worker's job alone, then its own peak RSS and its feature-extraction processes'."""
    app_runs(photos)
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    hwm_mb = int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]) / 1024
    print(f"  worker peak RSS: {hwm_mb:.0f} MB (VmHWM; getrusage says {self_mb:.0f} MB), "
          f"largest feature-extraction process {children_mb:.0f} MB")


def main():
    if "--throughput" in sys.argv:
        return throughput_job(*sys.argv[sys.argv.index("--throughput") + 1:][:2])
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    dev = Path(args[0]) if args else DEFAULT_DEV
    photos = readable_images(dev)
    if "--worker-job" in sys.argv:
        return worker_job(photos)
    if "--throughput-only" in sys.argv:  # the two scan-throughput goals alone (issue 11)
        cold_throughput("dev photos, cold", photos)
        return cold_throughput("docs-dev pages, cold", readable_images(DEFAULT_DOCS))
    print(f"Zeuge Lite speed benchmark, {len(photos)} readable dev photos from {dev}")
    stage_breakdown(photos[:150])
    cold_throughput("dev photos, cold", photos)
    if DEFAULT_DOCS.exists():
        cold_throughput("docs-dev pages, cold", readable_images(DEFAULT_DOCS))
    scans_dir = Path(tempfile.mkdtemp())
    scans = make_12mp_scans(photos[:20], 60, scans_dir)
    cold_throughput("12 MP JPEG scans, cold", scans)
    stage_breakdown(scans[:12])
    shutil.rmtree(scans_dir)
    worker_rss()
    regroup_10k()
    query_100k()


if __name__ == "__main__":
    main()
