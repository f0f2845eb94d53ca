"""Worker priority: the app's runs are background work (niced), `flask zeuge scan` is a command someone waits
for (its workers keep the caller's priority)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

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


FORK_AFTER_OPENCV = """
import sys
from pathlib import Path
from zeuge_lite.similarity import parallel
files = [(path, 0) for path in sorted(Path(sys.argv[1]).iterdir())]
list(parallel.record_files(files[:2], 10**8, workers=1))  # OpenCV at work in this process first
assert parallel._start_method() == "fork", parallel._start_method()
print(sum(data is not None for _path, data, _error in parallel.record_files(files, 10**8, workers=2)))
"""


def test_workers_forked_after_opencv_ran_in_the_parent_do_not_hang(tmp_path):
    # A scan makes the few photo records it needs in its own process, then forks workers for the checks: an
    # OpenCV thread pool started in the parent leaves forked workers waiting on threads they do not have.
    rng = np.random.default_rng(7)
    for n in range(2 * parallel.CHUNK + 2):
        noise = rng.integers(0, 256, (700, 900, 3), dtype=np.uint8)
        Image.fromarray(noise).save(tmp_path / f"{n:02}.png")
    done = subprocess.run([sys.executable, "-c", FORK_AFTER_OPENCV, str(tmp_path)], capture_output=True,
                          text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(2 * parallel.CHUNK + 2)]
