"""Headless scan of a folder tree: the same stages as the app, results as duplicates.json and .html."""
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zeuge_lite import report
from zeuge_lite.report import Report, ReportGroup, ReportItem
from zeuge_lite.similarity.exact import confirm_exact, signature_of_file
from zeuge_lite.similarity.grouping import Thresholds, apart_from_plain, group_items, uniqueness
from zeuge_lite.similarity.neighbours import candidate_pairs, gather_views
from zeuge_lite.similarity.parallel import analyse_files, record_files, run_checks
from zeuge_lite.similarity.verification import verify_candidates

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".gif", ".heic", ".heif", ".bmp",
                  ".avif", ".jxl"}
THUMBNAIL_SIDE = 160
FOREGROUND = 0  # a scan is a command someone waits for: its workers keep their priority (parallel.py)


@dataclass
class ScanResult:
    """Everything a scan found, in memory."""
    model: str
    thresholds: Thresholds
    paths: list = field(default_factory=list)      # analysed files, relative to the scanned folder
    sizes: list = field(default_factory=list)      # (width, height) per analysed file, as displayed
    pages: list = field(default_factory=list)      # pages (frames) per analysed file; the first is compared
    plain: list = field(default_factory=list)      # indexes of blank or plain pages, listed apart
    thumbnails: list = field(default_factory=list)
    errors: list = field(default_factory=list)     # {"path", "error"}
    skipped: list = field(default_factory=list)    # {"path", "reason"}: every file under the folder not analysed
    groups: list = field(default_factory=list)
    uniqueness: list = field(default_factory=list)
    pairs: list = field(default_factory=list, repr=False)  # candidate pairs, for regrouping at other settings


def _walk(root):
    """(path, None) for each file to analyse and (path, why not) for every other file under root, sorted."""
    root = Path(root)
    for path in sorted(p for p in root.rglob("*") if p.is_file() or _dangling(p)):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            yield path, "hidden file or folder"
        elif _dangling(path):
            yield path, "a link to a file that is not there"
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            yield path, f"not an image type ({path.suffix.lower() or 'no suffix'})"
        else:
            yield path, None


def _dangling(path):
    return path.is_symlink() and not path.exists()


def shown_path(path, root):
    """A file's path under root as text for the report: bytes a name holds that are not UTF-8 (a folder copied
    from old media) are written as \\xNN, which JSON and HTML can carry (a lone surrogate cannot be written)."""
    return os.fsencode(path.relative_to(root).as_posix()).decode("utf-8", "backslashreplace")


def scan_folder(root, model, thresholds, max_pixels, progress=None, workers=None, model_dir=None, spill_dir=None):
    """Analyse every image under root and group them; progress(done, total) is called as files finish.

    spill_dir: where the verification records are kept meanwhile (RecordSpill; default: the temporary folder)."""
    root = Path(root)
    walked = list(_walk(root))
    files = [path for path, reason in walked if reason is None]
    result = ScanResult(model, thresholds)
    result.skipped = [{"path": shown_path(p, root), "reason": r} for p, r in walked if r is not None]
    with RecordSpill(spill_dir) as records:
        _analyse_and_group(root, files, result, records, max_pixels, progress, workers, model_dir)
    return result


def _analyse_and_group(root, files, result, records, max_pixels, progress, workers, model_dir):
    """scan_folder's stages, filling result; records: where the verification records are kept (RecordSpill)."""
    model, thresholds = result.model, result.thresholds
    shas, hashes, vectors, hints, where = [], [], [], [], {}
    for done, (path, sha, features, error) in enumerate(
            analyse_files(files, model, max_pixels, model_dir, workers, THUMBNAIL_SIDE, niceness=FOREGROUND), start=1):
        relative = shown_path(path, root)
        if error:
            result.errors.append({"path": relative, "error": error})
            result.skipped.append({"path": relative, "reason": f"unreadable: {error}"})
        else:
            result.paths.append(relative)
            result.sizes.append((features.width, features.height))
            result.pages.append(features.pages)
            if features.plain:
                result.plain.append(len(result.paths) - 1)
            result.thumbnails.append(features.thumbnail)
            shas.append(sha)
            where[sha] = path
            hints.append(features.page_hint)
            if features.record is not None:
                records[sha] = features.record
            hashes.append(features.hashes)
            vectors.append(features.vectors.astype(np.float16))  # exact: embeddings are rounded to float16
        if progress:
            progress(done, len(files))
    if result.paths:
        result.pairs, nearest, _index = candidate_pairs(shas, np.stack(hashes), comparison_views(vectors))
        confirm_exact(result.pairs, lambda index: signature_of_file(result.thumbnails[index]), thresholds.hash_exact)
        result.pairs = apart_from_plain(result.pairs, set(result.plain))
        verify_candidates(result.pairs, shas, hints, _records_from(where, records, max_pixels, workers),
                          lambda keys: {}, lambda function, tasks: run_checks(function, tasks, workers, FOREGROUND))
        result.groups = group_items(result.pairs, thresholds)
        result.uniqueness = uniqueness(nearest).round(4).tolist()


def comparison_views(vectors):
    """The comparison's matrices of the scan's per-file views (float16 arrays), filled in place; empties the
    list, whose views they now hold (bench_scale.py --scan-views: 100,000 files peak at 1.3 GiB, 3.6 before)."""
    views = gather_views(len(vectors), vectors[0].shape[1], enumerate(vectors))
    vectors.clear()
    return views


class RecordSpill:
    """The verification records a scan makes, {sha: record bytes}, kept in a temporary file instead of memory: a
    page's record is 141 KiB, so a scan of 100,000 pages would otherwise hold 14 GB; verification asks for one
    part (verification.RECORDS_AT_ONCE contents) at a time. The file has no name and goes when the scan ends
    (even when killed). `flask zeuge scan` puts it in its --out folder: /tmp may be memory (tmpfs)."""

    def __init__(self, folder=None):
        self._file = tempfile.TemporaryFile(prefix="zeuge-records-", dir=folder)
        self._where, self._end = {}, 0

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self._file.close()

    def __contains__(self, sha):
        return sha in self._where

    def __len__(self):
        return len(self._where)

    def __setitem__(self, sha, record):
        if sha in self._where:  # the same content has the same record
            return
        record, start = memoryview(record), self._end
        while record:  # os.pwrite may write less than asked
            written = os.pwrite(self._file.fileno(), record, self._end)
            record, self._end = record[written:], self._end + written
        self._where[sha] = (start, self._end - start)

    def __getitem__(self, sha):
        start, size = self._where[sha]
        return os.pread(self._file.fileno(), size, start)

    def update(self, records):
        """Keep each of these {sha: record bytes}."""
        for sha, record in records.items():
            self[sha] = record


def _records_from(where, made, max_pixels, workers):
    """records_for for the verification stage: the records the first pass made (pages), the rest decoded again
    in worker processes (photos in uncertain pairs) and kept in `made` (a RecordSpill, on disk), so that a photo
    in several parts of a large scan is decoded once."""
    def records_for(wanted):
        files = [(where[sha], hint) for sha, hint in wanted.items() if sha not in made]
        by_path = {path: data for path, data, _error in record_files(files, max_pixels, workers, FOREGROUND) if data}
        made.update({sha: by_path[where[sha]] for sha in wanted if sha not in made and where[sha] in by_path})
        return {sha: made[sha] for sha in wanted if sha in made}
    return records_for


def as_report(result):
    """The scan's findings in the shape the report builder takes (zeuge_lite/report.py)."""
    items = [ReportItem(result.paths[i], *result.sizes[i], result.uniqueness[i], result.pages[i],
                        result.thumbnails[i]) for i in range(len(result.paths))]
    return Report("Duplicates and similar photos", result.model, result.thresholds, len(result.paths),
                  [ReportGroup(g.tier, g.score, g.signal, [items[i] for i in g.members]) for g in result.groups],
                  result.errors, result.skipped, [result.paths[i] for i in result.plain])


def to_json(result):
    """The public duplicates.json shape (DESIGN §5); keys may be added, never changed."""
    return report.to_json(as_report(result))


def write_outputs(result, out_dir):
    """Write duplicates.json and a self-contained duplicates.html into out_dir; return both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "duplicates.json", out / "duplicates.html"
    findings = as_report(result)
    json_path.write_text(json.dumps(report.to_json(findings), indent=2), encoding="utf-8")
    html_path.write_text(report.to_html(findings), encoding="utf-8")
    return json_path, html_path
