"""The huey queue and its task. Tasks take plain arguments (ids, paths) and open their own connection."""
import os
import threading

from huey import SqliteHuey

from zeuge_lite import PROJECT_ROOT

HUEY_DB = os.environ.get("ZEUGE_HUEY_DB", str(PROJECT_ROOT / "instance" / "huey.sqlite3"))
os.makedirs(os.path.dirname(HUEY_DB), exist_ok=True)
huey = SqliteHuey("zeuge-lite", filename=HUEY_DB)


@huey.task()
def analyse_batch(run_id, database, storage_dir, settings):
    """Run one analysis (see zeuge_lite.analysis.run_analysis) in the worker."""
    from zeuge_lite.analysis import AnalysisSettings, run_analysis
    from zeuge_lite.db import connect
    from zeuge_lite.storage import Storage
    conn = connect(database)
    try:
        run_analysis(conn, Storage(storage_dir), run_id, AnalysisSettings(**settings))
    finally:
        conn.close()


_in_process = {}
_lock = threading.Lock()


def start_in_process_consumer():
    """Start one huey worker thread in this process (for `flask run` demos; production runs `worker:`)."""
    with _lock:
        if "consumer" not in _in_process:
            consumer = huey.create_consumer(workers=1, worker_type="thread", periodic=False,
                                            check_worker_health=False)
            # Only the (daemon) worker threads: Consumer.start() would take over the server's signal handlers.
            for _name, worker in consumer.worker_threads:
                worker.start()
            _in_process["consumer"] = consumer
        return _in_process["consumer"]
