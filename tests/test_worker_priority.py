"""Worker priority: the app's runs are background work (niced), `flask zeuge scan` is a command someone waits
for (its workers keep the caller's priority)."""
import os

from zeuge_lite.similarity import parallel, scan
from zeuge_lite.similarity.grouping import Thresholds


def _niceness(_task):
    return os.nice(0)


def test_run_workers_are_niced_and_a_foreground_caller_can_keep_its_priority():
    base = os.nice(0)
    assert set(parallel.run_checks(_niceness, range(8), workers=2)) == {min(19, base + parallel.BACKGROUND_NICENESS)}
    assert set(parallel.run_checks(_niceness, range(8), workers=2, niceness=0)) == {base}


def test_the_scan_asks_for_foreground_workers(tmp_path, monkeypatch, make_image):
    (tmp_path / "a.jpg").write_bytes(make_image())
    asked = []
    real = scan.analyse_files

    def spy(*args, **kwargs):
        asked.append(kwargs.get("niceness", parallel.BACKGROUND_NICENESS))
        return real(*args, **kwargs)

    monkeypatch.setattr(scan, "analyse_files", spy)
    scan.scan_folder(tmp_path, "efficientnet-lite0", Thresholds(), 10**8, workers=1)
    assert asked == [0]


def _opencv_threads(_task):
    import cv2
    return cv2.getNumThreads()


def test_pool_workers_run_opencv_on_one_thread():
    assert set(parallel.run_checks(_opencv_threads, range(8), workers=2)) == {1}
