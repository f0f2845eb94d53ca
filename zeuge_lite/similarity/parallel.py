"""Feature extraction over many files in worker processes (one model thread each, decode overlapping)."""
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor

from zeuge_lite.similarity.decode import ImageRejected
from zeuge_lite.similarity.embedding import get_embedder
from zeuge_lite.similarity.features import extract_features
from zeuge_lite.similarity.verification import first_pass_hint, page_record
from zeuge_lite.storage import sha256_hex

CHUNK = 8
CHECK_TASKS_ALONE = 8  # fewer verification tasks than this run here: starting processes would cost more
UNREADABLE = "cannot read the file"  # a missing or unreadable original: worth retrying, unlike a broken image
# The app's runs are background work: page requests on the same cores come first. `flask zeuge scan` is a
# command someone waits for and passes 0 (at nice 10 its workers get a tenth of a busy core's time).
BACKGROUND_NICENESS = 10
_settings = {}


def _init_worker(model, model_dir, max_pixels, thumbnail_side, hash_content, parent_pid=None,
                 niceness=BACKGROUND_NICENESS):
    if parent_pid is not None:
        _die_with_parent(parent_pid, niceness)
    _settings.update(model=model, model_dir=model_dir, max_pixels=max_pixels, thumbnail_side=thumbnail_side,
                     hash_content=hash_content)


def _die_with_parent(parent_pid, niceness=BACKGROUND_NICENESS):
    """End this worker when the process that started it dies (even by kill -9); lower its priority."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    if niceness:
        os.nice(niceness)


def analyse_file(path):
    """(path, sha256 or None when not asked for, Features or None, error or None) for one file, never raising
    for bad images."""
    try:
        data = open(path, "rb").read()
    except OSError as exc:
        return path, None, None, f"{UNREADABLE} ({exc.strerror})"
    try:
        embedder = get_embedder(_settings["model"], _settings["model_dir"], threads=1)
        features = extract_features(data, embedder, _settings["max_pixels"], _settings["thumbnail_side"])
        if features.page_hint:  # every candidate pair of a page is verified: make its record while the file is here
            features.record = page_record(data, _settings["max_pixels"])
            features.page_hint = first_pass_hint(True, features.record)
    except ImageRejected as exc:
        return path, _content_hash(data), None, str(exc)
    return path, _content_hash(data), features, None


def record_file(wanted):
    """(path, verification record bytes or None, error or None) for one (path, first-pass hint), never raising
    for bad images."""
    path, hint = wanted
    try:
        data = open(path, "rb").read()
    except OSError as exc:
        return path, None, f"{UNREADABLE} ({exc.strerror})"
    try:
        return path, page_record(data, _settings["max_pixels"], hint), None
    except ImageRejected as exc:
        return path, None, str(exc)


def _content_hash(data):
    return sha256_hex(data) if _settings["hash_content"] else None


def _start_method():
    """fork when this process is single-threaded and has no onnxruntime loaded (a fresh `flask zeuge scan`):
    workers start at once; otherwise spawn, since forking a process that holds other threads is unsafe."""
    if threading.active_count() == 1 and "onnxruntime" not in sys.modules:
        return "fork"
    return "spawn"


def default_workers():
    """Two processes on two cores: one decodes while the other runs the model."""
    return max(1, min(4, os.cpu_count() or 1))


def analyse_files(paths, model, max_pixels, model_dir=None, workers=None, thumbnail_side=None, hash_content=True,
                  niceness=BACKGROUND_NICENESS):
    """Yield analyse_file results in input order, using worker processes when there is more than one.

    hash_content=False skips the sha256 of each file, for callers whose files are already named by it."""
    yield from _map(analyse_file, paths, (model, model_dir, max_pixels, thumbnail_side, hash_content), workers,
                    niceness=niceness)


def record_files(wanted, max_pixels, workers=None, niceness=BACKGROUND_NICENESS):
    """Yield record_file results (verification records, a second decode) for (path, first-pass hint) pairs in
    input order, in worker processes."""
    yield from _map(record_file, wanted, (None, None, max_pixels, None, False), workers, niceness=niceness)


def run_checks(function, tasks, workers=None, niceness=BACKGROUND_NICENESS):
    """A runner for verification.verify_candidates: its tasks mapped over worker processes (both cores)."""
    tasks = list(tasks)
    yield from _map(function, tasks, (None, None, None, None, False), workers, chunksize=1, minimum=CHECK_TASKS_ALONE,
                    niceness=niceness)


def _map(function, paths, init, workers, chunksize=CHUNK, minimum=2 * CHUNK, niceness=BACKGROUND_NICENESS):
    workers = workers or default_workers()
    if workers == 1 or len(paths) < minimum:
        _init_worker(*init)
        yield from map(function, paths)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(_start_method()),
                               initializer=_init_worker, initargs=init + (os.getpid(), niceness))
    try:
        yield from pool.map(function, paths, chunksize=chunksize)
    finally:  # a cancelled run stops here: drop the files not started yet instead of finishing them
        pool.shutdown(wait=True, cancel_futures=True)
