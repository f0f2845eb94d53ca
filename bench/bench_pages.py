"""Pages at 100,000 items (issue 10): server time and HTML size of every page of a large batch. Figures, not tests.

    .venv/bin/python bench/bench_pages.py                     # builds both shapes in a temporary directory
    .venv/bin/python bench/bench_pages.py --instance DIR      # keeps (or reuses) them in DIR
    .venv/bin/python bench/bench_pages.py --db FILE --batch N # an existing database (it is written to)

Shapes: (a) one batch of 100,000 items, (b) one archive of 100 batches x 1,000 items. Features are synthetic
(bench_scale's), pairs and scores are stored by analysis.compare_batch, a done run is recorded per batch and a
user who owns the archive is added. Then the Procfile's web line serves the database on 127.0.0.1 and one
logged-in client (keep-alive, as a browser) asks each page `repeat` times: the first answer (cold: nothing of
the batch remembered in the server's memo) is printed apart from p50/p95 of the rest. The machine's load average
is printed with each table: this 2-core box is shared, and figures move with it. Originals and thumbnails do
not exist for synthetic items, so thumbnails answer 404 (not asked for here).
"""
import argparse
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_load  # noqa: E402
import bench_scale  # noqa: E402
from bench_load import PASSWORD, Session, answers, await_condition, free_port, procfile_commands  # noqa: E402

EMAIL = "pages@bench.test"
ARCHIVE_BATCHES, ARCHIVE_BATCH_SIZE = 100, 1_000
GOAL_MS, GOAL_KB = 150, 200


# ---------------------------------------------------------------- instances

def build_archive(path, batches=ARCHIVE_BATCHES, size=ARCHIVE_BATCH_SIZE, seed=11):
    """One archive of `batches` batches of `size` analysed items (bench_scale's synthetic features and clusters).

    bench_scale.build makes an archive per call and numbers contents from 0, so 100 calls would give one archive
    per batch holding the same 1,000 contents; here contents are numbered across the archive."""
    from zeuge_lite import queries
    from zeuge_lite import queries_similarity as qs
    from zeuge_lite.db import connect, migrate, transaction
    from zeuge_lite.similarity.embedding import MODELS
    rng, spec = np.random.default_rng(seed), MODELS[bench_scale.MODEL]
    conn = connect(path)
    migrate(conn)
    qs.ensure_vec_table(conn, spec)
    with transaction(conn):
        archive = queries.create_archive(conn, "Pages: 100 batches", "pro")
    ids = []
    for number in range(batches):
        views = bench_scale.synthetic_views(rng, size, spec.dim)
        hashes = rng.integers(0, 2**63, size=(size, 8), dtype=np.int64).astype(np.uint64)
        for i in range(size):
            if i % bench_scale.CLUSTER_EVERY in (1, 2):
                original = i - i % bench_scale.CLUSTER_EVERY
                views[i], hashes[i] = bench_scale.copy_of(rng, views[original], hashes[original])
        with transaction(conn):
            batch = queries.create_batch(conn, archive, f"batch {number + 1:03d}")
            bench_scale.add_items(conn, spec, batch, number * size, views, hashes,
                                  lambda i, number=number: f"b{number + 1:03d}-{i:04d}.jpg")
        ids.append(batch)
    for batch in ids:
        analysis_compare(conn, batch)
    conn.close()
    return ids


def analysis_compare(conn, batch):
    """Store a batch's pairs and scores as the worker does (no thumbnails: no pair is an exact copy)."""
    from zeuge_lite import analysis
    analysis.compare_batch(conn, batch, bench_scale.MODEL)


def prepare(db_path):
    """A user owning every archive of the database (on Pro), and a done run for every batch that has none."""
    from zeuge_lite import create_app, queries
    from zeuge_lite import queries_similarity as qs
    from zeuge_lite.auth import hash_password
    from zeuge_lite.db import connect, migrate, transaction
    conn = connect(str(db_path))
    migrate(conn)
    with transaction(conn):
        user = queries.user_by_email(conn, EMAIL)
        if user is None:
            with create_app({"DATABASE": str(db_path), "SECRET_KEY": bench_load.SECRET_KEY}).app_context():
                user_id = queries.create_user(conn, EMAIL, "Pages bench", hash_password(PASSWORD))
        else:
            user_id = user["id"]
        for (archive_id,) in conn.execute("SELECT id FROM archives").fetchall():
            queries.set_plan(conn, archive_id, "pro")
            if not queries.archive_for_member(conn, archive_id, user_id):
                queries.add_member(conn, archive_id, user_id, "owner")
        for (batch_id,) in conn.execute("SELECT id FROM batches WHERE id NOT IN (SELECT batch_id FROM runs)"):
            run = qs.create_run(conn, batch_id, bench_scale.MODEL, {}, user_id)
            qs.start_run(conn, run)
            qs.finish_run(conn, run, "done")
    conn.close()


def instance(directory, kind):
    """(database path, batch to measure) of shape kind ("batch" or "archive") in directory, built if missing."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"pages-{kind}.sqlite3"
    if not path.exists():
        started = time.perf_counter()
        partial = directory / f"pages-{kind}.partial.sqlite3"
        if kind == "batch":
            batch = bench_scale.build(partial, 100_000)
            from zeuge_lite.db import connect
            conn = connect(str(partial))
            analysis_compare(conn, batch)
            conn.close()
        else:
            build_archive(partial)
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{partial}{suffix}").exists():
                os.replace(f"{partial}{suffix}", f"{path}{suffix}")
        print(f"  built {path.name} in {time.perf_counter() - started:.0f} s")
    prepare(path)
    return path, largest_batch(path) if kind == "batch" else middle_batch(path)


def largest_batch(path):
    return _one(path, "SELECT batch_id FROM items GROUP BY batch_id ORDER BY count(*) DESC LIMIT 1")


def middle_batch(path):
    """A batch in the middle of the archive's (its items are neither the first nor the last contents)."""
    ids = [row[0] for row in _rows(path, "SELECT id FROM batches ORDER BY id")]
    return ids[len(ids) // 2]


def _rows(path, sql, args=()):
    import sqlite3
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _one(path, sql, args=()):
    return _rows(path, sql, args)[0][0]


# ---------------------------------------------------------------- measuring

def load_average():
    return os.getloadavg()[0]


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))] if ordered else float("nan")


class Pages:
    """The pages of one batch, as one logged-in browser asks for them."""

    def __init__(self, session, db_path, batch_id):
        self.session, self.db, self.batch = session, db_path, batch_id
        self.archive = _one(db_path, "SELECT archive_id FROM batches WHERE id = ?", (batch_id,))
        self.total = _one(db_path, "SELECT count(*) FROM items WHERE batch_id = ?", (batch_id,))
        self.item = _one(db_path, "SELECT id FROM items WHERE batch_id = ? ORDER BY position, id LIMIT 1 OFFSET ?",
                         (batch_id, self.total // 2))
        self.key = None

    def get(self, path, htmx=False):
        send = self.session.htmx if htmx else self.session.request
        status, body = send("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        return body

    def post(self, path, fields):
        status, body = self.session.htmx("POST", path, urllib.parse.urlencode(fields, doseq=True),
                                         {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            raise RuntimeError(f"POST {path} answered {status}: {body[:300]!r}")
        return body

    def group_key(self):
        """A real group key, from the first groups page's Expand links (asked once, after the timings)."""
        if self.key is None:
            html = self.get(f"/batches/{self.batch}/similarity/groups?page=1", htmx=True)
            found = re.findall(rf"/batches/{self.batch}/similarity/group/([0-9-]+)".encode(), html)
            self.key = found[0].decode() if found else ""
        return self.key

    def grid_state(self, page):
        html = self.get(f"/batches/{self.batch}/items?page={page}")
        return _order_version(html), re.findall(rb'name="item" value="(\d+)"', html)

    def endpoints(self, archive_scope):
        """[(label, callable returning the HTML)]: every page and fragment of the issue's list."""
        b, last = f"/batches/{self.batch}", -(-self.total // 80)
        later_groups = 2
        pages = [
            ("Items tab, page 1", lambda: self.get(f"{b}/items")),
            (f"Items tab, page {last // 2}", lambda: self.get(f"{b}/items?page={last // 2}")),
            (f"Items tab, page {last} (last)", lambda: self.get(f"{b}/items?page={last}")),
            ("uniqueness: 0.0-0.1, least unique first", lambda: self.get(f"{b}/items?min=0&max=0.1&sort=uniqueness")),
            ("uniqueness: 0.9-1.0, page 3", lambda: self.get(f"{b}/items?min=0.9&max=1&page=3")),
            ("Metadata tab, page 1", lambda: self.get(f"{b}/metadata")),
            ("Metadata tab, page 500", lambda: self.get(f"{b}/metadata?page=500")),
            ("Similarity tab (full page)", lambda: self.get(f"{b}/similarity")),
            ("progress fragment", lambda: self.get(f"{b}/similarity/progress", htmx=True)),
            ("plain pages fragment", lambda: self.get(f"{b}/similarity/plain", htmx=True)),
            ("groups, page 1", lambda: self.get(f"{b}/similarity/groups?page=1", htmx=True)),
            (f"groups, page {later_groups}", lambda: self.get(f"{b}/similarity/groups?page={later_groups}", htmx=True)),
            ("groups, sort by size, near tier", lambda: self.get(f"{b}/similarity/groups?tier=near&sort=size",
                                                                 htmx=True)),
            ("preset: exact copies", lambda: self.get(f"{b}/similarity/groups?level=exact", htmx=True)),
            ("preset: near-duplicates", lambda: self.get(f"{b}/similarity/groups?level=near", htmx=True)),
            ("slider: similar at 62 %", lambda: self.get(f"{b}/similarity/groups?level=similar&threshold=62",
                                                        htmx=True)),
            ("slider: similar at 80 %", lambda: self.get(f"{b}/similarity/groups?level=similar&threshold=80",
                                                        htmx=True)),
            ("expanded card", lambda: self.get(f"{b}/similarity/group/{self.group_key()}", htmx=True)),
            ("item page", lambda: self.get(f"/items/{self.item}")),
            ("similar items (batch)", lambda: self.get(f"/items/{self.item}/similar", htmx=True)),
        ]
        if archive_scope:
            pages.append(("similar items (archive)", lambda: self.get(f"/items/{self.item}/similar?scope=archive",
                                                                      htmx=True)))
        pages += [("move to a position on another page (POST)", self.move_across),
                  ("drop on a page edge: to the end of the page before (POST)", lambda: self.drop_on_edge(last // 2)),
                  ("drag within a page, middle page (POST)", lambda: self.drag_within(last // 2))]
        return pages

    def move_across(self):
        """A tile of page 1 typed to a position in the batch's middle, as the page-edge drop and the position
        field send it (the order version read from a fresh page 1 beforehand, not timed)."""
        version, ids = self.grid_state(1)
        item, target = ids[0].decode(), self.total // 2
        started = time.perf_counter()
        html = self.post(f"/batches/{self.batch}/items/{item}/move",
                         {"order_version": version, "page": 1, f"position-{item}": target})
        return html, time.perf_counter() - started

    def drop_on_edge(self, page):
        """The first tile of a page dropped on its "previous page" edge (a move to the position before it)."""
        version, ids = self.grid_state(page)
        item = ids[0].decode()
        started = time.perf_counter()
        html = self.post(f"/batches/{self.batch}/items/{item}/move",
                         {"order_version": version, "page": page, f"position-{item}": (page - 1) * 80})
        return html, time.perf_counter() - started

    def drag_within(self, page):
        """The grid form of a middle page with its first two tiles swapped (a drag and drop)."""
        version, ids = self.grid_state(page)
        ids = [i.decode() for i in ids]
        ids[0], ids[1] = ids[1], ids[0]
        started = time.perf_counter()
        html = self.post(f"/batches/{self.batch}/order", {"order_version": version, "offset": (page - 1) * 80,
                                                         "page": page, "item": ids})
        return html, time.perf_counter() - started


def _order_version(html):
    return re.search(rb'name="order_version" value="(-?\d+)"', html).group(1).decode()


def timed_call(call):
    """(seconds, bytes) of one page; calls that time themselves (POSTs after a GET) return (html, seconds)."""
    started = time.perf_counter()
    result = call()
    if isinstance(result, tuple):
        return result[1], len(result[0])
    return time.perf_counter() - started, len(result)


def measure_pages(db_path, storage_dir=None, batch_id=None, archive_scope=False, repeat=20, label="",
                  web_command=None):
    """Serve db_path with the Procfile's web line, log in as the bench user (prepare() adds them) and time
    every page of batch_id `repeat` times; print the table and return {label: row}."""
    db_path = Path(db_path)
    workdir = Path(tempfile.mkdtemp(prefix="zeuge-pages-"))
    storage_dir = storage_dir or workdir / "storage"
    paths = {"db": str(db_path), "storage": str(storage_dir), "huey": str(workdir / "huey.sqlite3"),
             "models": str(Path(bench_load.ROOT) / "zeuge_lite" / "models")}
    port = free_port()
    web = bench_load.start_line(web_command or procfile_commands()["web"], bench_load.server_env(paths, port),
                                workdir / "web.log")
    try:
        await_condition(lambda: answers(port), 120, "the web server")
        session = Session(port, 120).login(EMAIL)
        pages = Pages(session, db_path, batch_id)
        rows = {}
        for name, call in pages.endpoints(archive_scope):
            first_s, size = timed_call(call)
            times = [timed_call(call)[0] for _ in range(repeat - 1)]
            rows[name] = {"first_ms": first_s * 1e3, "p50_ms": percentile(times, .5) * 1e3,
                          "p95_ms": percentile(times, .95) * 1e3, "kb": size / 1024, "load": load_average()}
        session.close()
    finally:
        bench_load.stop_line(web)
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(label or f"batch {batch_id} of {db_path.name} ({pages.total:,} items)", rows, repeat)
    return rows


def print_table(title, rows, repeat):
    print(f"\n== {title}: {repeat} requests a page, goal p95 < {GOAL_MS} ms and < {GOAL_KB} KB")
    print("| page | first (cold) ms | p50 ms | p95 ms | KB | load | |\n| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in rows.items():
        miss = r["p95_ms"] >= GOAL_MS or r["kb"] >= GOAL_KB
        print(f"| {name} | {r['first_ms']:.0f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['kb']:.1f} | "
              f"{r['load']:.2f} | {'MISS' if miss else 'ok'} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", help="directory for the two shapes' databases (kept; reused when present)")
    parser.add_argument("--db", help="an existing database to measure instead (it is written to)")
    parser.add_argument("--batch", type=int, help="with --db: the batch to measure (default: the largest)")
    parser.add_argument("--shape", choices=("batch", "archive", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    if args.db:
        prepare(args.db)
        batch = args.batch or largest_batch(args.db)
        many = _one(args.db, "SELECT count(*) FROM batches WHERE archive_id = "
                             "(SELECT archive_id FROM batches WHERE id = ?)", (batch,)) > 1
        measure_pages(args.db, batch_id=batch, archive_scope=many, repeat=args.repeat)
        return
    directory = Path(args.instance) if args.instance else Path(tempfile.mkdtemp(prefix="zeuge-pages-inst-"))
    try:
        for kind in ("batch", "archive") if args.shape == "both" else (args.shape,):
            path, batch = instance(directory, kind)
            measure_pages(path, batch_id=batch, archive_scope=kind == "archive", repeat=args.repeat,
                          label={"batch": "one batch of 100,000", "archive": "archive of 100 x 1,000"}[kind])
    finally:
        if not args.instance:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
