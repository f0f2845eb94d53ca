"""Cost of reading embedded metadata per file (issue 13 goal: < 20 ms): exiv2 as the app does it (file_metadata,
in process), and, when it is installed, exiftool through PyExifTool's long-running process for comparison.

Run: python bench/bench_metadata.py [FOLDER] (default tests/corpus; every file is read ROUNDS times)."""
import shutil
import statistics
import sys
import time
from pathlib import Path

from zeuge_lite.metadata.embedded import file_metadata, sidecar_metadata

ROUNDS = 50


def per_file_ms(read, paths):
    """Median milliseconds per file over ROUNDS reads of each, and the slowest file's median."""
    medians = []
    for path in paths:
        data = path.read_bytes()
        times = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            read(path, data)
            times.append(time.perf_counter() - start)
        medians.append(1000 * statistics.median(times))
    return statistics.median(medians), max(medians)


def _exiv2(path, data):
    return sidecar_metadata(data) if path.suffix == ".xmp" else file_metadata(data)


def main(folder):
    paths = sorted(p for p in Path(folder).iterdir() if p.is_file())
    median, worst = per_file_ms(_exiv2, paths)
    print(f"exiv2 (in process):   {median:.2f} ms per file (median), slowest file {worst:.2f} ms; {len(paths)} files")
    if shutil.which("exiftool"):
        try:
            import exiftool
        except ImportError:
            print("exiftool: installed, but PyExifTool is not (pip install pyexiftool to compare)")
            return
        start = time.perf_counter()
        with exiftool.ExifToolHelper() as tool:
            started = time.perf_counter() - start
            median, worst = per_file_ms(lambda path, _data: tool.get_metadata(str(path)), paths)
        print(f"exiftool (-stay_open): {median:.2f} ms per file (median), slowest file {worst:.2f} ms; "
              f"{1000 * started:.0f} ms to start the process")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent / "tests" / "corpus")
