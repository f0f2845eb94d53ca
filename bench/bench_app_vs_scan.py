"""Cold analysis through the app against `flask zeuge scan` on the same photos, measured in one run (issue 10:
the app's run should reach 0.8x the scan's throughput). Prints figures, asserts nothing.

    .venv/bin/python bench/bench_app_vs_scan.py [IMAGES_DIR] [--profile]

The photos are first uploaded into a fresh database through the project's ingest (not timed). Then, each in a
fresh process so that neither warms the other's model or caches: the app's run (the huey task's body,
analysis.run_analysis: features, comparison, verification, grouping stored as pairs) and scan_folder (what
`flask zeuge scan` runs). --profile prints where the app's run spends its time (cProfile, top 25).
"""
import cProfile
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_speed import MAX_PIXELS, MODEL, fresh_instance  # noqa: E402
from zeuge_lite import analysis  # noqa: E402
from zeuge_lite import queries_similarity as qs  # noqa: E402
from zeuge_lite.db import connect  # noqa: E402
from zeuge_lite.ingest import ingest_upload  # noqa: E402
from zeuge_lite.similarity.grouping import Thresholds  # noqa: E402
from zeuge_lite.similarity.scan import scan_folder  # noqa: E402
from zeuge_lite.storage import Storage  # noqa: E402

DEFAULT_DEV = Path(__file__).resolve().parents[2] / "shared" / "photos" / "dev" / "images"


def prepare_app(images, workdir):
    """Upload every image into a fresh database and storage (the app's ingest); return the batch id."""
    conn, storage, limits, batch = fresh_instance(workdir)
    added = 0
    for path in sorted(images.iterdir()):
        result = ingest_upload(conn, storage, limits, batch, None, path.name, path.read_bytes())
        added += result.status == "added"
    conn.close()
    return batch, added


def app_job(workdir, batch, profile):
    """Inside a fresh process: one cold run of the batch through the app's run code; prints its seconds."""
    workdir = Path(workdir)
    conn = connect(workdir / "app.sqlite3")
    storage = Storage(workdir / "storage")
    settings = analysis.AnalysisSettings(MODEL, str(workdir / "models"), MAX_PIXELS)
    run, _created = analysis.start_or_get_run(conn, int(batch), MODEL, {}, None)
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    analysis.run_analysis(conn, storage, run["id"], settings)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - start
    row = qs.run_by_id(conn, run["id"])
    print(f"APP {seconds:.3f} {row['status']} {row['computed']}")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def scan_job(images):
    """Inside a fresh process: scan_folder over the images (default workers); prints its seconds."""
    start = time.perf_counter()
    result = scan_folder(Path(images), MODEL, Thresholds(), MAX_PIXELS)
    print(f"SCAN {time.perf_counter() - start:.3f} {len(result.paths)} {len(result.groups)}")


def _child(*args):
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True).stdout
    return out


def main():
    if "--app-job" in sys.argv:
        return app_job(*sys.argv[sys.argv.index("--app-job") + 1:][:2], "--profile" in sys.argv)
    if "--scan-job" in sys.argv:
        return scan_job(sys.argv[sys.argv.index("--scan-job") + 1])
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    images = Path(args[0]) if args else DEFAULT_DEV
    workdir = Path(tempfile.mkdtemp())
    try:
        batch, added = prepare_app(images, workdir)
        scan_out = _child("--scan-job", str(images))
        app_out = _child("--app-job", str(workdir), str(batch), *(["--profile"] if "--profile" in sys.argv else []))
        _, scan_s, scanned, groups = next(line for line in scan_out.splitlines() if line.startswith("SCAN")).split()
        _, app_s, status, computed = next(line for line in app_out.splitlines() if line.startswith("APP")).split()
        scan_rate, app_rate = int(scanned) / float(scan_s), added / float(app_s)
        print(f"{images}: {added} photos uploaded")
        print(f"  flask zeuge scan: {float(scan_s):.1f} s, {scan_rate:.1f} photos/s ({groups} groups)")
        print(f"  app run (cold):   {float(app_s):.1f} s, {app_rate:.1f} photos/s ({computed} computed, {status})")
        print(f"  app / scan throughput: {app_rate / scan_rate:.2f}x (goal >= 0.8x)")
        if "--profile" in sys.argv:
            print("\n".join(app_out.splitlines()[1:]))
    finally:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
