"""The huey queue and its tasks. Tasks take plain arguments (ids, paths) and open their own connection.

The queue's storage comes from the app's configuration (`configure_queue`, called by create_app): importing
this module creates no file. The worker is `huey_consumer app.huey`, so it reads the same configuration."""
import logging
import os
import socket
import threading
import time

from huey import Huey, crontab
from huey.storage import BaseStorage, RedisStorage, SqliteStorage


class QueueNotConfigured(BaseStorage):
    """The storage before create_app has run: any use says what is missing."""

    def _refuse(self, *_args, **_kwargs):
        raise RuntimeError("The job queue is not configured: create the app first (zeuge_lite.create_app).")

    enqueue = dequeue = queue_size = flush_queue = add_to_schedule = read_schedule = put_data = _refuse


huey = Huey("zeuge-lite", storage_class=QueueNotConfigured)
log = logging.getLogger(__name__)
BEAT_EVERY_S = 5
_worker = {"config": {}, "runs": set(), "lock": threading.Lock(), "beating": False}


def configure_queue(config):
    """Point the queue at Redis (HUEY_URL) or else the configured SQLite file (HUEY_DB); create_app calls this."""
    if config.get("HUEY_URL"):
        huey.storage_class = RedisStorage
        # Named per process, so `redis-cli client list` shows which web and worker processes are attached.
        huey.storage_kwargs = {"url": config["HUEY_URL"], "client_name": f"zeuge-{socket.gethostname()}-{os.getpid()}"}
    else:
        huey.storage_class = SqliteStorage
        huey.storage_kwargs = {"filename": config["HUEY_DB"]}
    _worker["config"] = {"database": config["DATABASE"], "stale_s": config["RUN_STALE_SECONDS"],
                         "storage": config["STORAGE_DIR"]}
    if not huey.immediate:
        huey.storage = huey.create_storage()
    return huey


@huey.task()
def analyse_batch(run_id, database, storage_dir, settings):
    """Run one analysis (see zeuge_lite.analysis.run_analysis) in the worker."""
    from zeuge_lite.analysis import AnalysisSettings, run_analysis
    from zeuge_lite.db import connect
    from zeuge_lite.storage import Storage
    conn = connect(database)
    _worker["runs"].add(run_id)
    try:
        run_analysis(conn, Storage(storage_dir), run_id, AnalysisSettings(**settings))
    finally:
        _worker["runs"].discard(run_id)
        conn.close()


@huey.periodic_task(crontab(minute="17"))
def purge_expired_trash():
    """Hourly in every worker (the demo's in-process one too): delete trash entries whose time is over."""
    from zeuge_lite.db import connect
    from zeuge_lite.storage import Storage
    from zeuge_lite.trash import purge_expired
    conn = connect(_worker["config"]["database"])
    try:
        return purge_expired(conn, Storage(_worker["config"]["storage"]))
    finally:
        conn.close()


@huey.on_startup()
def start_signs_of_life():
    """Once per worker process: a thread that says this worker is alive and fails runs whose worker died."""
    with _worker["lock"]:
        if _worker["beating"] or not _worker["config"]:
            return
        _worker["beating"] = True
    threading.Thread(target=_beat_forever, name="zeuge-signs-of-life", daemon=True).start()


def _beat_forever():
    from zeuge_lite.db import connect, migrate
    conn = connect(_worker["config"]["database"])
    migrate(conn)
    name = f"{socket.gethostname()}:{os.getpid()}"
    while True:
        beat(conn, name, sorted(_worker["runs"]), _worker["config"]["stale_s"])
        time.sleep(BEAT_EVERY_S)  # a fixed rhythm, nothing to wait for


def beat(conn, name, run_ids, stale_s):
    """One sign of life: this worker is seen, its runs are alive, runs of dead workers are marked failed;
    expired logins are forgotten on the way."""
    from zeuge_lite import queries
    from zeuge_lite import queries_similarity as qs
    from zeuge_lite.analysis import STALE_REASON
    from zeuge_lite.db import transaction
    try:
        with transaction(conn):
            qs.record_worker_seen(conn, name)
            qs.beat_runs(conn, run_ids)
            qs.fail_stalled_runs(conn, stale_s, STALE_REASON)
            qs.forget_old_workers(conn, 86400)
            queries.delete_expired_sessions(conn)
    except Exception:  # a locked or missing database must not end the worker's signs of life for good
        log.exception("could not record the worker's signs of life")


_in_process = {}
_lock = threading.Lock()


def start_in_process_consumer():
    """Start one huey worker thread in this process (for `flask run` demos; production runs `worker:`)."""
    with _lock:
        if "consumer" not in _in_process:
            consumer = huey.create_consumer(workers=1, worker_type="thread", periodic=True,
                                            check_worker_health=False)
            # Only the (daemon) worker and scheduler threads (the scheduler queues the hourly trash purge):
            # Consumer.start() would take over the server's signal handlers.
            for _name, worker in consumer.worker_threads:
                worker.start()
            consumer.scheduler.start()
            _in_process["consumer"] = consumer
        return _in_process["consumer"]
