"""Headless scan of a folder tree: the same stages as the app, results as duplicates.json and .html."""
import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zeuge_lite.similarity.exact import confirm_exact, signature_of_file
from zeuge_lite.similarity.grouping import Thresholds, apart_from_plain, candidate_pairs, group_items, uniqueness
from zeuge_lite.similarity.parallel import analyse_files, record_files, run_checks
from zeuge_lite.similarity.verification import verify_candidates

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".gif", ".heic", ".heif", ".bmp",
                  ".avif", ".jxl"}
THUMBNAIL_SIDE = 160


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
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            yield path, "hidden file or folder"
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            yield path, f"not an image type ({path.suffix.lower() or 'no suffix'})"
        else:
            yield path, None


def scan_folder(root, model, thresholds, max_pixels, progress=None, workers=None, model_dir=None):
    """Analyse every image under root and group them; progress(done, total) is called as files finish."""
    root = Path(root)
    walked = list(_walk(root))
    files = [path for path, reason in walked if reason is None]
    result = ScanResult(model, thresholds)
    result.skipped = [{"path": p.relative_to(root).as_posix(), "reason": r} for p, r in walked if r is not None]
    shas, hashes, vectors, hints, where, records = [], [], [], [], {}, {}
    for done, (path, sha, features, error) in enumerate(
            analyse_files(files, model, max_pixels, model_dir, workers, THUMBNAIL_SIDE), start=1):
        relative = path.relative_to(root).as_posix()
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
            vectors.append(features.vectors)
        if progress:
            progress(done, len(files))
    if result.paths:
        result.pairs, nearest, _index = candidate_pairs(shas, np.stack(hashes), np.stack(vectors))
        confirm_exact(result.pairs, lambda index: signature_of_file(result.thumbnails[index]), thresholds.hash_exact)
        result.pairs = apart_from_plain(result.pairs, set(result.plain))
        verify_candidates(result.pairs, shas, hints, _records_from(where, records, max_pixels, workers),
                          lambda keys: {}, lambda function, tasks: run_checks(function, tasks, workers))
        result.groups = group_items(result.pairs, thresholds)
        result.uniqueness = uniqueness(nearest).round(4).tolist()
    return result


def _records_from(where, made, max_pixels, workers):
    """records_for for the verification stage: the records the first pass made (pages), the rest decoded again
    in worker processes (photos in uncertain pairs)."""
    def records_for(shas):
        paths = [where[sha] for sha in shas if sha not in made]
        by_path = {path: data for path, data, _error in record_files(paths, max_pixels, workers) if data}
        again = {sha: by_path[where[sha]] for sha in shas if sha not in made and where[sha] in by_path}
        return {**{sha: made[sha] for sha in shas if sha in made}, **again}
    return records_for


def to_json(result):
    """The public duplicates.json shape (DESIGN §5); keys may be added, never changed."""
    return {
        "model": result.model, "threshold": result.thresholds.cosine_similar, "level": result.thresholds.level,
        "items": len(result.paths), "errors": result.errors,
        "skipped": sorted(result.skipped, key=lambda s: s["path"]),
        "plain": [result.paths[i] for i in result.plain],  # blank or plain pages: never grouped by likeness
        "groups": [{"kind": g.tier, "score": g.score, "signal": g.signal,
                    "items": [_json_item(result, i) for i in g.members]} for g in result.groups],
    }


def _json_item(result, i):
    item = {"path": result.paths[i], "width": result.sizes[i][0], "height": result.sizes[i][1],
            "uniqueness": result.uniqueness[i]}
    if result.pages[i] > 1:
        item["pages"] = result.pages[i]  # a multi-page file: page 1 was compared
    return item


def write_outputs(result, out_dir):
    """Write duplicates.json and a self-contained duplicates.html into out_dir; return both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "duplicates.json", out / "duplicates.html"
    json_path.write_text(json.dumps(to_json(result), indent=2), encoding="utf-8")
    html_path.write_text(to_html(result), encoding="utf-8")
    return json_path, html_path


def to_html(result):
    """A one-file report: every group with inline thumbnails, then the files that could not be read."""
    cards = "\n".join(_group_html(result, number, group) for number, group in enumerate(result.groups, start=1))
    errors = "".join(f"<li><code>{html.escape(e['path'])}</code>: {html.escape(e['error'])}</li>"
                     for e in result.errors)
    others = "".join(f"<li><code>{html.escape(s['path'])}</code>: {html.escape(s['reason'])}</li>"
                     for s in result.skipped if not s["reason"].startswith("unreadable: "))
    return _HTML_PAGE.format(items=len(result.paths), groups=len(result.groups), model=html.escape(result.model),
                             cards=cards or "<p>No duplicates or similar photos found.</p>",
                             errors=(f"<h2>Files that could not be read</h2><ul>{errors}</ul>" if errors else "")
                             + (f"<h2>Files not analysed</h2><ul>{others}</ul>" if others else "")
                             + _plain_html(result))


def _plain_html(result):
    if not result.plain:
        return ""
    names = "".join(f"<li><code>{html.escape(result.paths[i])}</code></li>" for i in result.plain)
    return f"<h2>{len(result.plain)} blank or plain pages (not grouped by likeness)</h2><ul>{names}</ul>"


def _group_html(result, number, group):
    figures = "".join(
        f'<figure><img alt="" src="data:image/jpeg;base64,{base64.b64encode(result.thumbnails[i]).decode()}">'
        f"<figcaption>{html.escape(result.paths[i])}<br>{result.sizes[i][0]}×{result.sizes[i][1]}</figcaption>"
        f"</figure>" for i in group.members)
    return (f'<section class="group"><h2>Group {number}: {len(group.members)} photos · '
            f'{round(group.score * 100)}% alike · <span class="tier {group.tier}">{group.tier}</span> '
            f'<small>({html.escape(group.signal)})</small></h2><div class="row">{figures}</div></section>')


_HTML_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Zeuge Lite duplicates</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#1d2327}} .group{{border:1px solid #d9dee2;
border-radius:8px;padding:.5rem 1rem;margin:1rem 0}} .row{{display:flex;flex-wrap:wrap;gap:.75rem}}
figure{{margin:0;width:170px;font-size:.8rem;word-break:break-all}} img{{max-width:160px;max-height:160px}}
.tier{{padding:0 .4rem;border-radius:4px;background:#e8edf1}} .exact{{background:#fbe0dc}} .near{{background:#fff0c9}}
h2{{font-size:1.05rem}}</style></head><body><h1>Duplicates and similar photos</h1>
<p>{items} photos analysed with {model}; {groups} groups.</p>{cards}{errors}</body></html>"""
