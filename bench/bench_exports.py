"""Exports of a large batch through the deployed shape (issue 10): prints figures, asserts nothing.

    .venv/bin/python bench/bench_exports.py --db /work/inst100k/scale-100000.sqlite3 --workdir /work/exp100k
    .venv/bin/python bench/bench_exports.py --items 2000 --workdir /tmp/exp2k     # builds a small instance

The instance is copied into --workdir (never used in place), given a user who owns the batch's archive
(the project's own functions) and small stand-in files where the storage expects each item's original and
thumbnail (one 3 KB JPEG, hard-linked: the instances bench_scale.py builds have synthetic features and no
files). --crowd N adds pairs within every run of N items, so that every item is in a group. Then, for each
export (duplicates.json, .csv, .html, .zip -- the report with its thumbnails beside it -- and the batch
ZIP), the Procfile's web line starts afresh on 127.0.0.1, a user logs in and downloads it; printed: time to
first byte, total time, bytes, and the web process's peak RSS growth during the download: its VmHWM after
the download less its VmRSS before it, VmHWM having been reset to the RSS just before (/proc/PID/clear_refs).
The web process is restarted per export, so every export starts cold (no groups remembered from an earlier
request) and its peak is its own. measure_exports() is the part other benches call.
"""
import argparse
import io
import os
import shutil
import sqlite3
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_load  # noqa: E402
from bench_load import (Session, answers, await_condition, free_port, procfile_commands, server_env,  # noqa: E402
                        start_line, stop_line)

EMAIL = "exports@bench.test"
EXPORTS = ("duplicates.json", "duplicates.csv", "duplicates.html", "duplicates.zip", "batch.zip")


def export_path(batch_id, name):
    """The URL of one export of the batch."""
    if name == "batch.zip":
        return f"/batches/{batch_id}/export.zip"
    return f"/batches/{batch_id}/similarity/export.{name.rsplit('.', 1)[1]}"


def stand_in_jpeg():
    """A small JPEG (about 3 KB) to stand for every original and thumbnail."""
    from PIL import Image
    buffer = io.BytesIO()
    Image.radial_gradient("L").resize((160, 120)).convert("RGB").save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def copy_instance(db_path, workdir):
    """A consistent copy of the database (sqlite's backup API) in workdir; return its paths."""
    workdir.mkdir(parents=True, exist_ok=True)
    paths = bench_load.instance_paths(workdir)
    Path(paths["db"]).unlink(missing_ok=True)
    source, target = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True), sqlite3.connect(paths["db"])
    with target:
        source.backup(target)
    source.close()
    target.close()
    return paths


def add_user(paths, batch_id):
    """A user who owns the batch's archive (the instance has none); the password is bench_load's."""
    from zeuge_lite import create_app, queries
    from zeuge_lite.auth import hash_password
    from zeuge_lite.db import connect, migrate, transaction
    create_app({"DATABASE": paths["db"], "STORAGE_DIR": paths["storage"], "HUEY_DB": paths["huey"],
                "MODEL_DIR": paths["models"], "SECRET_KEY": bench_load.SECRET_KEY})
    conn = connect(paths["db"])
    migrate(conn)
    archive = conn.execute("SELECT archive_id FROM batches WHERE id = ?", (batch_id,)).fetchone()[0]
    user = conn.execute("SELECT id FROM users WHERE email = ?", (EMAIL,)).fetchone()
    with transaction(conn):
        user_id = user[0] if user else queries.create_user(conn, EMAIL, "Exports bench", hash_password(
            bench_load.PASSWORD))
        queries.add_member(conn, archive, user_id, "owner")
    conn.close()


def add_stand_in_files(paths, batch_id):
    """Hard links to one small JPEG where the storage expects each item's original and thumbnail (a new copy
    of it every LINKS_PER_FILE links: ext4 allows 65,000 links to a file)."""
    from zeuge_lite.storage import Storage
    storage, data = Storage(paths["storage"]), stand_in_jpeg()
    conn = sqlite3.connect(paths["db"])
    rows = conn.execute("SELECT DISTINCT f.sha256, f.ext FROM items i JOIN files f ON f.sha256 = i.sha256 "
                        "WHERE i.batch_id = ?", (batch_id,)).fetchall()
    conn.close()
    made = 0
    for sha, ext in rows:
        for target in (storage.original_path(sha, ext), storage.derived_path("thumb", sha)):
            if not target.exists():
                master = Path(paths["storage"]) / f"stand-in-{made // LINKS_PER_FILE}.jpg"
                if not master.exists():
                    master.parent.mkdir(parents=True, exist_ok=True)
                    master.write_bytes(data)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(master, target)
                made += 1
    return len(rows), made


LINKS_PER_FILE = 60_000


def crowd(paths, batch_id, size=3):
    """Pairs (cosine 0.90, hash 30 bits apart) within every run of `size` items in batch order, as if the whole
    batch were copies of one another: a crowded batch, every item in a group."""
    conn = sqlite3.connect(paths["db"])
    model = conn.execute("SELECT model FROM pairs WHERE batch_id = ? LIMIT 1", (batch_id,)).fetchone()[0]
    ids = [row[0] for row in conn.execute("SELECT id FROM items WHERE batch_id = ? ORDER BY position, id",
                                          (batch_id,))]
    runs = [ids[start:start + size] for start in range(0, len(ids), size)]
    with conn:
        conn.executemany("INSERT OR IGNORE INTO pairs (model, a_item, b_item, batch_id, cosine, hash_distance, "
                         "same_file) VALUES (?, ?, ?, ?, 0.90, 30, 0)",
                         ((model, min(a, b), max(a, b), batch_id) for run in runs for n, a in enumerate(run)
                          for b in run[n + 1:]))
    pairs = conn.execute("SELECT count(*) FROM pairs WHERE batch_id = ?", (batch_id,)).fetchone()[0]
    conn.close()
    return pairs


def web_pid(process):
    """The pid of the web server under the Procfile runner's shell (or the shell itself if it exec'd)."""
    pids = [process.pid]
    for pid in pids:
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            pids.extend(int(child) for child in children.read_text().split())
    for pid in reversed(pids):
        if b"waitress" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
    return pids[-1]


def reset_peak(pid):
    """Reset the process's VmHWM to its current RSS (Linux >= 4.0, /proc/PID/clear_refs "5"); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def memory_kb(pid):
    """{'VmRSS': kB, 'VmHWM': kB} of a process."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def download(session, path, save_to=None):
    """(status, seconds to the first body byte, seconds in all, bytes) of one GET, reading in 64 KB blocks
    (written to save_to if given)."""
    session._drop()
    conn = bench_load.http.client.HTTPConnection("127.0.0.1", session.port, timeout=session.timeout)
    started = time.perf_counter()
    conn.request("GET", path, headers=session._headers(None))
    response = conn.getresponse()
    first, size = None, 0
    with open(save_to or os.devnull, "wb") as out:
        while block := response.read1(1 << 16):
            if first is None:
                first = time.perf_counter() - started
            size += len(block)
            out.write(block)
    total = time.perf_counter() - started
    conn.close()
    return response.status, first if first is not None else total, total, size


def measure_exports(db_path, storage_dir, batch_id, email=EMAIL, exports=EXPORTS, log_dir=None, timeout=600,
                    save_dir=None):
    """Start the Procfile's web line per export against this instance, log in as email, download each export
    (into save_dir if given); return [{export, status, first_byte_s, total_s, bytes, rss_before_mb,
    peak_growth_mb, peak_reset, load}]."""
    log_dir = Path(log_dir or Path(db_path).parent)
    paths = dict(bench_load.instance_paths(Path(db_path).parent), db=str(db_path), storage=str(storage_dir))
    results = []
    for name in exports:
        port = free_port()
        web = start_line(procfile_commands()["web"], server_env(paths, port), log_dir / f"web-{name}.log")
        try:
            await_condition(partial(answers, port), 60, "the web line to answer")
            session = Session(port, timeout).login(email)
            pid = web_pid(web)
            reset = reset_peak(pid)
            before = memory_kb(pid)
            status, first, total, size = download(session, export_path(batch_id, name),
                                                  save_dir and Path(save_dir) / name)
            after = memory_kb(pid)
            session.close()
        finally:
            stop_line(web)
        results.append({"export": name, "status": status, "first_byte_s": first, "total_s": total, "bytes": size,
                        "rss_before_mb": before["VmRSS"] / 1024,
                        "peak_growth_mb": (after["VmHWM"] - before["VmRSS"]) / 1024, "peak_reset": reset,
                        "load": os.getloadavg()})
        print_row(results[-1])
    return results


def print_row(row):
    """One export's figures on one line, with the load average at its end."""
    peak = f"{row['peak_growth_mb']:6.1f} MB" + ("" if row["peak_reset"] else " (VmHWM since start)")
    print(f"  {row['export']:<16} {row['status']}  first byte {row['first_byte_s']:6.2f} s  total "
          f"{row['total_s']:6.2f} s  {row['bytes'] / 1e6:9.2f} MB  web RSS {row['rss_before_mb']:5.0f} MB + peak "
          f"{peak}  (load {' '.join(f'{v:.2f}' for v in row['load'])})", flush=True)


def build_instance(workdir, items):
    """A small instance as bench_scale.py builds them (synthetic features, compared and grouped)."""
    import bench_scale
    path = workdir / "built.sqlite3"
    path.unlink(missing_ok=True)
    batch = bench_scale.build(path, items)
    bench_scale.job(path, batch)
    return path, batch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="an existing instance's database (copied, never used in place)")
    parser.add_argument("--batch", type=int, default=None, help="default: the instance's largest batch")
    parser.add_argument("--items", type=int, default=2000, help="without --db: build an instance of this size")
    parser.add_argument("--workdir", required=True, help="where the copy, its files and the logs go")
    parser.add_argument("--exports", nargs="+", default=list(EXPORTS), choices=EXPORTS)
    parser.add_argument("--crowd", type=int, default=0, metavar="SIZE",
                        help="first pair every run of SIZE items in batch order: every item in a group")
    parser.add_argument("--save", default=None, metavar="DIR", help="keep the downloads in DIR")
    parser.add_argument("--keep-files", action="store_true", help="leave the copy and its files in --workdir")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    source, batch = (Path(args.db), args.batch) if args.db else build_instance(workdir, args.items)
    started = time.perf_counter()
    paths = copy_instance(source, workdir)
    conn = sqlite3.connect(paths["db"])
    batch = batch or conn.execute("SELECT batch_id FROM items GROUP BY batch_id ORDER BY count(*) DESC").fetchone()[0]
    items = conn.execute("SELECT count(*) FROM items WHERE batch_id = ?", (batch,)).fetchone()[0]
    conn.close()
    add_user(paths, batch)
    contents, made = add_stand_in_files(paths, batch)
    crowded = f"; crowded: runs of {args.crowd} paired, {crowd(paths, batch, args.crowd):,} pairs" if args.crowd else ""
    print(f"instance {paths['db']}: batch {batch}, {items:,} items, {contents:,} contents, {made:,} stand-in files "
          f"linked{crowded}; set up in {time.perf_counter() - started:.0f} s; web: {procfile_commands()['web']}")
    try:
        if args.save:
            Path(args.save).mkdir(parents=True, exist_ok=True)
        measure_exports(paths["db"], paths["storage"], batch, exports=args.exports, log_dir=workdir,
                        save_dir=args.save)
    finally:
        if not args.keep_files:
            shutil.rmtree(paths["storage"], ignore_errors=True)
            Path(paths["db"]).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
