"""Load on the deployed shape (issue 8 §5): prints figures, asserts nothing.

    .venv/bin/python bench/bench_load.py [--users 50] [--seconds 60] [--items 2000] [--web-command CMD]

Setup, in a temporary instance: an owner with a Pro archive and --users archivists (the project's own
functions), batch A of --items synthetic 640x480 JPEGs (about 10 % of them re-encoded or cropped copies, so
groups exist) added with ingest_upload and analysed by a real run, batch B of --live-items new photos, an
empty batch C. Then the Procfile's worker line and a web command (the Procfile's web line unless
--web-command) start on 127.0.0.1, and for --seconds: B's analysis runs, an uploader posts photos to C, and
--users logged-in users (own cookie jar, own keep-alive connection, spread over --client-procs processes)
poll B's progress about once a second and between polls open A's Items tab, A's Similarity groups fragment
or an expanded group card, in turn. Latency is measured per request, from sending to the last byte read.
"""
import argparse
import http.client
import http.cookies
import io
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "load-bench: a long enough password"  # noqa: S105 - a throwaway instance's user
SECRET_KEY = "bench-load-secret-" + "k" * 32
ENDPOINTS = ("progress", "items", "groups", "card")
BROWSE = ("items", "groups", "card")
RETRYABLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


# ---------------------------------------------------------------- synthetic photos

DEV_PHOTOS = ROOT.parent / "shared" / "photos" / "dev" / "images"
DEMO_PHOTOS = ROOT / "zeuge_lite" / "demo_photos"
# Where each round of crops sits in its source, as (x, y) of the crop's corner in 0..1 and its side in 0..1:
# four corners at 60 %, then four edge middles at 45 %. Two crops of one source overlap at most ~20 %.
REGIONS = ((0, 0, .6), (1, 1, .6), (1, 0, .6), (0, 1, .6), (.5, 0, .45), (.5, 1, .45), (0, .5, .45), (1, .5, .45))


def source_photos(folder):
    """Readable photos of a folder, one of each picture (a PNG and its TIFF copy would give identical crops,
    which ingest_upload rightly refuses as exact duplicates): the material the synthetic photos are cut from."""
    import hashlib

    from zeuge_lite.similarity.decode import ImageRejected, decode_rgb, open_image
    found, seen = [], set()
    for path in sorted(Path(folder).iterdir()):
        try:
            digest = hashlib.sha256(decode_rgb(open_image(path.read_bytes(), 100_000_000), 64).tobytes()).digest()
        except (ImageRejected, OSError, SyntaxError, ValueError):
            continue
        if digest not in seen:
            seen.add(digest)
            found.append(str(path))
    return found


def photo(sources, n):
    """Distinct photo number n as a 640x480 image: crop n // len(sources) of a source, every other one mirrored.

    Random shapes and noise are not distinct to the model: 98 % of their pairs pass the candidate floor
    (cosine 0.55) and 48 % the 0.74 threshold, which floods `pairs`; crops of real photos give the density of
    a real archive (about 1.7 % and 0.16 %, as the labelled dev set)."""
    from PIL import ImageEnhance, ImageOps

    from zeuge_lite.similarity.decode import decode_rgb, open_image
    image = decode_rgb(open_image(Path(sources[n % len(sources)]).read_bytes(), 100_000_000), 1200)
    turn = n // len(sources)
    fx, fy, side = REGIONS[turn % len(REGIONS)]
    w, h = image.size
    cw, ch = int(w * side), int(h * side)
    x, y = int(fx * (w - cw)), int(fy * (h - ch))
    crop = image.crop((x, y, x + cw, y + ch)).resize((640, 480))
    crop = ImageOps.mirror(crop) if turn % 2 else crop
    return ImageEnhance.Color(crop).enhance(random.Random(n).uniform(0.6, 1.4))


def jpeg(image, quality):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def near_copy(image, seed):
    """A re-scan of a photo: smaller and recompressed, or cropped by 4-8 % a side."""
    rng = random.Random(seed)
    if rng.random() < 0.5:
        return jpeg(image.resize((544, 408)), quality=65)
    m = rng.randint(26, 51)
    return jpeg(image.crop((m, m * 3 // 4, 640 - m, 480 - m * 3 // 4)), quality=85)


def batch_file(sources, first, n):
    """(filename, bytes) of photo n of a batch whose photos start at number `first`: every tenth is a near copy
    of a photo a few places earlier in the same batch."""
    if n % 10 == 9:
        source = n - random.Random(first * 7919 + n).randint(1, 9)
        return f"p{first + n:05d}-copy-of-p{first + source:05d}.jpg", near_copy(photo(sources, first + source), n)
    return f"p{first + n:05d}.jpg", jpeg(photo(sources, first + n), quality=88)


def _ingest_chunk(job):
    """In a pool process: make and ingest photos [start, stop) of a batch with the project's ingest_upload."""
    database, storage_dir, limits, batch_id, user_id, sources, first, start, stop = job
    from zeuge_lite.db import connect
    from zeuge_lite.ingest import ingest_upload
    from zeuge_lite.storage import Storage
    conn, storage, added = connect(database), Storage(storage_dir), 0
    for n in range(start, stop):
        name, data = batch_file(sources, first, n)
        added += ingest_upload(conn, storage, limits, batch_id, user_id, name, data).status == "added"
    conn.close()
    return added


def fill_batch(paths, limits, batch_id, user_id, sources, first, count, procs=2):
    """Add `count` photos to a batch from `procs` processes (each its own connection; WAL takes both)."""
    step = max(1, math.ceil(count / (procs * 8)))
    jobs = [(paths["db"], paths["storage"], limits, batch_id, user_id, sources, first, s, min(count, s + step))
            for s in range(0, count, step)]
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        return sum(pool.map(_ingest_chunk, jobs))


# ---------------------------------------------------------------- instance, users, batches

def instance_paths(root):
    return {"db": str(root / "zeuge.sqlite3"), "storage": str(root / "storage"), "huey": str(root / "huey.sqlite3"),
            "models": str(root / "models")}


def server_env(paths, port):
    """The servers' environment: this instance only, loopback only, venv commands on PATH.

    Login throttling is raised for this instance: all users log in from 127.0.0.1 within seconds, which the
    default limits (10 logins a minute per address) rightly refuse."""
    return dict(os.environ, ZEUGE_DATABASE=paths["db"], ZEUGE_STORAGE_DIR=paths["storage"],
                ZEUGE_HUEY_DB=paths["huey"], ZEUGE_MODEL_DIR=paths["models"], ZEUGE_SECRET_KEY=SECRET_KEY,
                ZEUGE_LOGIN_LIMITS="100000 per minute", ZEUGE_ACCOUNT_LOGIN_LIMITS="100000 per minute",
                HOST="127.0.0.1", PORT=str(port),
                PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))


def create_world(paths, args):
    """Owner, Pro archive, archivists, batches A (filled), B (filled, not analysed), C (empty)."""
    from zeuge_lite import create_app, queries
    from zeuge_lite.auth import hash_password, register_user
    from zeuge_lite.db import connect, migrate, transaction
    from zeuge_lite.ingest import limits_from_config
    app = create_app({"DATABASE": paths["db"], "STORAGE_DIR": paths["storage"], "HUEY_DB": paths["huey"],
                      "MODEL_DIR": paths["models"], "SECRET_KEY": SECRET_KEY})
    conn = connect(paths["db"])
    migrate(conn)
    with app.app_context():
        owner = register_user(conn, "owner@bench.test", "Owner", PASSWORD, "Load bench archive (Pro)", "pro")
        archive = queries.archives_of_user(conn, owner)[0]["id"]
        shared_hash = hash_password(PASSWORD)  # one scrypt for all users: setup time, not what is measured
    emails = [f"user{n:03d}@bench.test" for n in range(args.users)]
    with transaction(conn):
        for email in emails:
            queries.add_member(conn, archive, queries.create_user(conn, email, email, shared_hash), "archivist")
        batches = {name: queries.create_batch(conn, archive, title) for name, title in
                   (("A", "A: analysed"), ("B", "B: analysed during the load"), ("C", "C: uploads during the load"))}
    conn.close()
    limits, sources = limits_from_config(app.config), source_photos(args.sources)
    firsts = {"A": 0, "B": args.items, "C": args.items + args.live_items}
    print(f"  {len(sources)} source photos in {args.sources}: up to {len(sources) * len(REGIONS)} distinct photos")
    for name, count in (("A", args.items), ("B", args.live_items)):
        started = time.perf_counter()
        added = fill_batch(paths, limits, batches[name], owner, sources, firsts[name], count)
        print(f"  batch {name}: {added} photos added with ingest_upload in {time.perf_counter() - started:.0f} s")
    return {"owner": "owner@bench.test", "users": emails, "batches": batches, "sources": sources,
            "first_upload": firsts["C"]}


# ---------------------------------------------------------------- HTTP client

class Session:
    """One logged-in browser: its own cookies and one keep-alive connection (http.client)."""

    def __init__(self, port, timeout):
        self.port, self.timeout = port, timeout
        self.conn, self.cookies, self.csrf, self.reconnects = None, {}, None, 0

    def request(self, method, path, body=None, headers=None, with_location=False):
        """(status, body bytes[, Location]); a kept-alive connection the server closed meanwhile is reopened once."""
        for attempt in (1, 2):
            reused = self.conn is not None
            if not reused:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=self._headers(headers))
                response = self.conn.getresponse()
                data = response.read()
            except RETRYABLE:
                self._drop()
                if reused and attempt == 1:  # what a browser does for an idempotent retry on a stale socket
                    self.reconnects += 1
                    continue
                raise
            except BaseException:
                self._drop()
                raise
            self._remember(response.headers.get_all("Set-Cookie") or [])
            if response.will_close:
                self._drop()
            if with_location:
                return response.status, data, response.getheader("Location")
            return response.status, data
        raise AssertionError("unreachable")

    def _headers(self, extra):
        headers = {"Host": f"127.0.0.1:{self.port}", "User-Agent": "bench-load", "Accept-Encoding": "identity"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return dict(headers, **(extra or {}))

    def _remember(self, set_cookies):
        for header in set_cookies:
            jar = http.cookies.SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                expired = morsel["max-age"] == "0" or "1970" in morsel["expires"]
                if expired or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def _drop(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def login(self, email):
        """Log in through the form, as a browser does; keep the page's CSRF token for htmx requests."""
        _status, page = self.request("GET", "/login")
        token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
        body = urllib.parse.urlencode({"email": email, "password": PASSWORD, "csrf_token": token})
        status, _ = self.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 303:
            raise RuntimeError(f"login of {email} answered {status}")
        home, path = b"", "/"
        for _ in range(3):  # the home page redirects to the user's archive
            status, home, location = self.request("GET", path, with_location=True)
            if status not in (301, 302, 303) or not location:
                break
            path = urllib.parse.urlsplit(location).path
        self.csrf = re.search(rb'name="csrf-token" content="([^"]+)"', home).group(1).decode()
        return self

    def htmx(self, method, path, body=None, headers=None):
        htmx = {"HX-Request": "true", "X-CSRFToken": self.csrf}
        return self.request(method, path, body, dict(htmx, **(headers or {})))

    def close(self):
        self._drop()


def multipart(field, filename, data):
    boundary = "bench" + os.urandom(8).hex()
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: image/jpeg\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def timed(session, endpoint, method, path, t0, body=None, headers=None, htmx=True):
    """One request as a record: (endpoint, start s after t0, latency s, status or 0, bytes, error)."""
    started = time.perf_counter()
    try:
        send = session.htmx if htmx else session.request
        status, data = send(method, path, body, headers)
        error = "" if 200 <= status < 300 else f"HTTP {status}"
        return (endpoint, started - t0, time.perf_counter() - started, status, len(data), error), data
    except TimeoutError:
        return (endpoint, started - t0, time.perf_counter() - started, 0, 0, "timeout"), b""
    except (OSError, http.client.HTTPException) as exc:  # a failure is a figure here, not the end of the run
        return (endpoint, started - t0, time.perf_counter() - started, 0, 0, type(exc).__name__), b""


# ---------------------------------------------------------------- the users (client processes)

def user_loop(session, plan, rng, t0, deadline, budget, records):
    """Poll progress about once a second; between polls, after a short think, open the next page in turn."""
    paths, keys = user_paths(plan), plan["keys"]
    turn, next_poll = rng.randrange(len(BROWSE)), time.perf_counter() + rng.uniform(0, 1)
    while budget():
        _sleep_until(next_poll)
        if time.perf_counter() >= deadline:
            break
        records.append(timed(session, "progress", "GET", paths["progress"][0], t0)[0])
        next_poll = max(next_poll + 1.0, time.perf_counter() + 0.2)
        _sleep_until(time.perf_counter() + rng.uniform(plan["think"][0], plan["think"][1]))
        if time.perf_counter() >= min(deadline, next_poll) or not budget():
            continue
        endpoint = BROWSE[turn % len(BROWSE)]
        turn += 1
        path, htmx = paths[endpoint]
        records.append(timed(session, endpoint, "GET", path.format(key=rng.choice(keys)), t0, htmx=htmx)[0])


def _sleep_until(moment):
    delay = moment - time.perf_counter()
    if delay > 0:
        time.sleep(delay)  # think time / the poll's rhythm


def client_process(port, emails, plan, ready, go, start_at, out):
    """One client process: log its users in, wait for the start, run them as threads, send the records."""
    sessions = [None] * len(emails)

    def log_in(i):
        sessions[i] = Session(port, plan["timeout"]).login(emails[i])

    threads = [threading.Thread(target=log_in, args=(i,)) for i in range(len(emails))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ready.put(sum(s is not None for s in sessions))
    go.wait()
    t0 = start_at.value
    deadline = t0 + plan["seconds"]
    lock, count = threading.Lock(), [0]

    def budget():
        with lock:
            count[0] += 1
            return count[0] <= plan["cap"]

    per_user = [[] for _ in sessions]
    cpu = time.process_time()
    threads = [threading.Thread(target=user_loop, args=(s, plan, random.Random(i * 31 + port), t0, deadline, budget,
                                                        per_user[i])) for i, s in enumerate(sessions) if s]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = [r for user in per_user for r in user]
    reconnects = sum(s.reconnects for s in sessions if s)
    out.put({"records": records, "cpu_s": time.process_time() - cpu, "reconnects": reconnects})
    for s in sessions:
        if s:
            s.close()


# ---------------------------------------------------------------- servers

def procfile_commands():
    """{process name: command} from the repository's Procfile."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in lines
                                              if line.strip() and not line.startswith("#"))}


def start_line(command, env, log_path):
    """Start a command as Procfile runners do (sh -c) in a session of its own."""
    return subprocess.Popen(["/bin/sh", "-c", command], cwd=ROOT, env=env, stdout=open(log_path, "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop_line(process):
    """SIGTERM the process group we started, then SIGKILL it if it does not end."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def await_condition(check, timeout_s, what, every_s=0.25):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every_s)  # polling a condition in another process
    raise TimeoutError(f"timed out after {timeout_s}s waiting for {what}")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port):
    try:
        return Session(port, 2).request("GET", "/login")[0] == 200
    except OSError:
        return False


def tree_cpu_s(pid):
    """CPU seconds of a process and its live descendants (plus children they have waited for)."""
    ticks, stats = os.sysconf("SC_CLK_TCK"), {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stats[int(entry)] = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
    todo, total = [pid], 0
    while todo:
        current = todo.pop()
        if current in stats:
            total += sum(int(v) for v in stats[current][11:15])
        todo.extend(p for p, fields in stats.items() if int(fields[1]) == current)
    return total / ticks


def machine_busy_s():
    """CPU seconds all processes on this machine have used (from /proc/stat): to tell others' load from ours."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- analysis, monitor, uploader

def run_status(db, batch_id):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT status, done, total FROM runs WHERE batch_id = ? ORDER BY id DESC LIMIT 1",
                            (batch_id,)).fetchone()
    finally:
        conn.close()


def analyse_and_wait(session, db, batch_id, timeout_s):
    status, _ = session.htmx("POST", f"/batches/{batch_id}/similarity/run")
    if status != 200:
        raise RuntimeError(f"starting the run answered {status}")
    await_condition(lambda: (run_status(db, batch_id) or ("",))[0] in ("done", "failed", "cancelled"), timeout_s,
                    f"the analysis of batch {batch_id}")
    return run_status(db, batch_id)


def group_keys(session, batch_id, pages=3):
    """Real group keys from the groups fragment (its Expand buttons), a few pages deep; and the total."""
    keys, total = [], None
    for page in range(1, pages + 1):
        _status, html = session.htmx("GET", f"/batches/{batch_id}/similarity/groups?page={page}")
        keys += re.findall(rf"/batches/{batch_id}/similarity/group/([0-9-]+)\"".encode(), html)
        found = re.search(rb"(\d[\d,]*) groups? found", html)
        total = total or (found.group(1).decode() if found else None)
    return sorted({k.decode() for k in keys}), total


class Monitor(threading.Thread):
    """Samples the live batch's run from the database while the load runs."""

    def __init__(self, db, batch_id, stop):
        super().__init__(daemon=True)
        self.db, self.batch_id, self.stop, self.samples = db, batch_id, stop, []

    def run(self):
        while not self.stop.is_set():
            try:
                self.samples.append((time.perf_counter(), run_status(self.db, self.batch_id)))
            except sqlite3.Error:
                pass  # a busy moment: the next sample will do
            self.stop.wait(0.25)


class Uploader(threading.Thread):
    """Posts one photo every `every_s` to batch C as the upload page does (one file a request, JSON), until
    stopped or `limit` photos are posted."""

    def __init__(self, session, batch_id, files, every_s, stop, t0_box, limit=None):
        super().__init__(daemon=True)
        self.session, self.batch_id, self.files, self.every_s = session, batch_id, files, every_s
        self.stop, self.t0_box, self.records, self.added, self.limit = stop, t0_box, [], 0, limit

    def run(self):
        n, t0 = 0, self.t0_box[0]
        while not self.stop.is_set() and (self.limit is None or n < self.limit):
            name, data = self.files(n)
            body, content_type = multipart("files", name, data)
            record, reply = timed(self.session, "upload", "POST", f"/batches/{self.batch_id}/upload", t0, body,
                                  {"Content-Type": content_type, "Accept": "application/json"})
            self.records.append(record)
            self.added += b'"added"' in reply
            n += 1
            self.stop.wait(self.every_s)


# ---------------------------------------------------------------- figures

def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def summary_row(label, records):
    if not records:
        return f"| {label} | 0 | | | | | | |"
    latencies = sorted(r[2] for r in records)
    errors = sum(1 for r in records if r[5])
    size = sum(r[4] for r in records) / len(records) if records else 0
    ms = [percentile(latencies, q) * 1000 for q in (0.5, 0.95, 0.99)] + [(latencies[-1] if latencies else 0) * 1000]
    return (f"| {label} | {len(records)} | {errors} | " + " | ".join(f"{v:.0f}" for v in ms) +
            f" | {size / 1024:.0f} KB |")


def user_paths(plan):
    """The users' requests as (endpoint, path, sent by htmx?), one group card per key."""
    a, b = plan["batches"]["A"], plan["batches"]["B"]
    return {"progress": (f"/batches/{b}/similarity/progress", True), "items": (f"/batches/{a}/items", False),
            "groups": (f"/batches/{a}/similarity/groups", True),
            "card": (f"/batches/{a}/similarity/group/{{key}}", True)}


def baseline(session, plan, repeat=5):
    """Each endpoint alone, one request at a time, before the load: what one request costs the server."""
    print("\none user alone, before the load (no analysis running):")
    print("| endpoint | median ms | min ms | size |")
    print("| --- | --- | --- | --- |")
    for endpoint, (path, htmx) in user_paths(plan).items():
        times, size = [], 0
        for n in range(repeat):
            record, _data = timed(session, endpoint, "GET", path.format(key=plan["keys"][n % len(plan["keys"])]), 0.0,
                                 htmx=htmx)
            times.append(record[2] * 1000)
            size = max(size, record[4])
        times.sort()
        print(f"| {endpoint} | {times[len(times) // 2]:.0f} | {times[0]:.0f} | {size / 1024:.0f} KB |")


def print_table(records, uploads, active_window):
    print("\n| endpoint | requests | errors | p50 ms | p95 ms | p99 ms | max ms | mean size |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for endpoint in ENDPOINTS:
        print(summary_row(endpoint, [r for r in records if r[0] == endpoint]))
    print(summary_row("**all users' requests**", records))
    if active_window:
        start, end = active_window
        print(summary_row("all, while B's run was active", [r for r in records if start <= r[1] < end]))
        if any(r[1] >= end for r in records):
            print(summary_row("all, after B's run ended", [r for r in records if r[1] >= end]))
    print(summary_row("upload (one uploader, not in 'all')", uploads))


def print_errors(records):
    kinds = {}
    for r in records:
        if r[5]:
            kinds[(r[0], r[5])] = kinds.get((r[0], r[5]), 0) + 1
    if kinds:
        print("errors: " + ", ".join(f"{endpoint} {kind} × {n}" for (endpoint, kind), n in sorted(kinds.items())))


def log_findings(path):
    """Tracebacks, and the distinct warning/error lines of a server log (waitress's queue depth as its maximum)."""
    text = Path(path).read_text(errors="replace")
    tracebacks = text.count("Traceback (most recent call last)")
    depths = [int(d) for d in re.findall(r"Task queue depth is (\d+)", text)]
    lines = [line for line in text.splitlines() if re.search(r"Error|Exception|WARNING|CRITICAL", line)
             and "Task queue depth" not in line]
    distinct = list(dict.fromkeys(line.strip()[:160] for line in lines))[:6]
    if depths:
        distinct.insert(0, f"waitress task queue depth up to {max(depths)} (requests waiting for a thread)")
    return tracebacks, distinct


def active_window(samples, t0, seconds):
    """(first, last) seconds after t0 in which the live run was queued or running, or None."""
    active = [t - t0 for t, row in samples if row and row[0] in ("queued", "running") and t >= t0]
    return (0.0, min(seconds, max(active) + 0.25)) if active else None


# ---------------------------------------------------------------- main

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--items", type=int, default=2000, help="photos in the browsed, analysed batch A")
    parser.add_argument("--live-items", type=int, default=1200,
                        help="photos in batch B, analysed during the load (enough to last 60 s here)")
    parser.add_argument("--procfile-web", default=procfile_commands()["web"], help="default: the Procfile's web line")
    parser.add_argument("--web-command", default=None, help="another web command to compare ($PORT is set)")
    parser.add_argument("--sources", default=str(DEV_PHOTOS if DEV_PHOTOS.is_dir() else DEMO_PHOTOS),
                        help="photos the synthetic ones are cut from (default: the dev set, else the demo photos)")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap on the users' requests in all")
    parser.add_argument("--upload-every", type=float, default=0.5, help="seconds between the uploader's posts")
    parser.add_argument("--uploads", type=int, default=0,
                        help="instead of the users' load: post this many photos one after another (as the upload "
                             "page does) while B's run is active, and report those requests")
    parser.add_argument("--think", type=float, nargs=2, default=(0.1, 0.5), metavar=("MIN", "MAX"))
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a request counts as timed out")
    parser.add_argument("--keep", default=None, help="keep the instance, logs and records in this directory")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.uploads:  # no users and nothing to browse: only B's run and the uploads
        args.users, args.items = 0, 0
    web_command = args.web_command or args.procfile_web
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-load-"))
    root.mkdir(parents=True, exist_ok=True)
    paths, port = instance_paths(root), free_port()
    env = server_env(paths, port)
    print(f"instance {root}; web: {web_command}")
    setup_started = time.perf_counter()
    world = create_world(paths, args)
    worker = start_line(procfile_commands()["worker"], env, root / "worker.log")
    web = start_line(web_command, env, root / "web.log")
    try:
        return run_load(args, paths, port, world, web, worker, root, web_command, setup_started)
    finally:
        stop_line(web)
        stop_line(worker)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def run_load(args, paths, port, world, web, worker, root, web_command, setup_started):
    await_condition(lambda: answers(port), 60, "the web command to answer")
    if args.uploads:
        return run_uploads(args, paths, port, world, root)
    owner = Session(port, 60).login(world["owner"])
    batches = world["batches"]
    started = time.perf_counter()
    run = analyse_and_wait(owner, paths["db"], batches["A"], 1800)
    print(f"  batch A analysed by the worker over HTTP in {time.perf_counter() - started:.0f} s: {run}")
    keys, total_groups = group_keys(owner, batches["A"])
    if not keys:
        raise RuntimeError("batch A has no groups to expand")
    plan = {"batches": batches, "keys": keys, "seconds": args.seconds, "think": args.think, "timeout": args.timeout,
            "cap": max(1, args.max_requests // args.client_procs)}
    baseline(owner, plan)
    context = multiprocessing.get_context("spawn")
    ready, out, go, start_at = context.Queue(), context.Queue(), context.Event(), context.Value("d", 0.0)
    shares = [world["users"][i::args.client_procs] for i in range(args.client_procs)]
    clients = [context.Process(target=client_process, args=(port, share, plan, ready, go, start_at, out))
               for share in shares if share]
    for client in clients:
        client.start()
    logged_in = sum(ready.get(timeout=300) for _ in clients)
    print(f"  {logged_in} users logged in (each its own session); {len(keys)} group keys to expand; "
          f"setup took {time.perf_counter() - setup_started:.0f} s")
    load_before, cpu_before = os.getloadavg(), (tree_cpu_s(web.pid), tree_cpu_s(worker.pid))
    busy_before, own_before = machine_busy_s(), time.process_time()
    stop, t0_box = threading.Event(), [0.0]
    monitor = Monitor(paths["db"], batches["B"], stop)
    uploader = Uploader(Session(port, args.timeout).login(world["owner"]), batches["C"],
                        lambda n: batch_file(world["sources"], world["first_upload"], n), args.upload_every, stop,
                        t0_box)
    t0 = time.perf_counter()
    t0_box[0], start_at.value = t0, t0
    monitor.start()
    status, _ = owner.htmx("POST", f"/batches/{batches['B']}/similarity/run")
    go.set()
    uploader.start()
    results = [out.get(timeout=args.seconds + args.timeout + 120) for _ in clients]
    elapsed = time.perf_counter() - t0
    stop.set()
    uploader.join(args.timeout + 5)
    monitor.join(5)
    for client in clients:
        client.join(30)
    load_after, cpu_after = os.getloadavg(), (tree_cpu_s(web.pid), tree_cpu_s(worker.pid))
    busy, own = machine_busy_s() - busy_before, time.process_time() - own_before
    records = [r for result in results for r in result["records"]]
    window = active_window(monitor.samples, t0, args.seconds)
    final_run = run_status(paths["db"], batches["B"])
    counts = item_counts(paths["db"], batches)
    print(f"\nweb command: {web_command}")
    print(f"worker: {procfile_commands()['worker']}")
    print(f"users {logged_in}, window {elapsed:.1f} s, {len(records)} requests ({len(records) / elapsed:.1f}/s), "
          f"keep-alive reconnects {sum(r['reconnects'] for r in results)}, client CPU "
          + ", ".join(f"{r['cpu_s']:.1f} s" for r in results))
    print(f"items: A {counts['A']}, B {counts['B']}, C {counts['C']} ({uploader.added} uploaded during the window); "
          f"{total_groups} groups in A")
    print(f"B's run: POST answered {status}; "
          + (f"active from 0 to {window[1]:.1f} s of {args.seconds:.0f} s" if window else "never seen active")
          + f"; at the end {final_run}")
    web_s, worker_s = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
    clients_s = sum(r["cpu_s"] for r in results) + own
    print(f"CPU in the window ({os.cpu_count()} cores × {elapsed:.0f} s = {os.cpu_count() * elapsed:.0f} core-s): "
          f"machine busy {busy:.0f} s = web {web_s:.1f} + worker with its pool {worker_s:.1f} + bench clients "
          f"{clients_s:.1f} + other processes ≈ {max(0.0, busy - web_s - worker_s - clients_s):.0f}")
    print(f"load average before {fmt_load(load_before)}, after {fmt_load(load_after)} (2 cores, shared)")
    print_table(records, uploader.records, window)
    print_errors(records + uploader.records)
    for name in ("web", "worker"):
        tracebacks, lines = log_findings(root / f"{name}.log")
        print(f"{name}.log: {tracebacks} tracebacks" + ("; " + " / ".join(lines) if lines else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"web_command": web_command, "records": records,
                                               "uploads": uploader.records, "window": window}))
    return 0


def run_uploads(args, paths, port, world, root):
    """Issue 10's upload figure: --uploads photos posted back to back to C while B's analysis runs."""
    owner, batches = Session(port, 60).login(world["owner"]), world["batches"]
    stop, t0_box = threading.Event(), [0.0]
    monitor = Monitor(paths["db"], batches["B"], stop)
    uploader = Uploader(Session(port, args.timeout).login(world["owner"]), batches["C"],
                        lambda n: batch_file(world["sources"], world["first_upload"], n), 0.0, stop, t0_box,
                        limit=args.uploads)
    load_before = os.getloadavg()
    t0 = t0_box[0] = time.perf_counter()
    monitor.start()
    status, _ = owner.htmx("POST", f"/batches/{batches['B']}/similarity/run")
    await_condition(lambda: (run_status(paths["db"], batches["B"]) or ("",))[0] == "running", 120,
                    "B's run to start")
    uploader.start()
    uploader.join()
    elapsed = time.perf_counter() - t0
    stop.set()
    monitor.join(5)
    window = active_window(monitor.samples, t0, elapsed)
    print(f"\n{len(uploader.records)} uploads ({uploader.added} added) in {elapsed:.1f} s; B's run: POST answered "
          f"{status}, " + (f"active until {window[1]:.1f} s" if window else "never seen active")
          + f"; at the end {run_status(paths['db'], batches['B'])}")
    print(f"load average before {fmt_load(load_before)}, after {fmt_load(os.getloadavg())} (2 cores, shared)")
    print("\n| uploads | requests | errors | p50 ms | p95 ms | p99 ms | max ms | mean size |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    if window:
        print(summary_row("while B's run was active", [r for r in uploader.records if r[1] < window[1]]))
        print(summary_row("after it ended", [r for r in uploader.records if r[1] >= window[1]]))
    print(summary_row("all", uploader.records))
    print_errors(uploader.records)
    for name in ("web", "worker"):
        tracebacks, lines = log_findings(root / f"{name}.log")
        print(f"{name}.log: {tracebacks} tracebacks" + ("; " + " / ".join(lines) if lines else ""))
    return 0


def item_counts(db, batches):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return {name: conn.execute("SELECT count(*) FROM items WHERE batch_id = ?", (bid,)).fetchone()[0]
                for name, bid in batches.items()}
    finally:
        conn.close()


def fmt_load(load):
    return " ".join(f"{v:.2f}" for v in load)


if __name__ == "__main__":
    sys.exit(main())
