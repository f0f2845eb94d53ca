"""Geometric verification on the labelled sets: how well inliers / ink coverage separate true pairs from
hard negatives, per-pair time and record size.

    .venv/bin/python bench/bench_verify.py [--cache DIR] [--sample N]

Pairs measured, per set (../shared/photos/docs-dev and ../shared/photos/dev, evaluation only):
- true pairs: every pair inside a ground-truth group (split by tier);
- candidates: the scan's candidate pairs (cosine >= 0.55 or pHash <= 12) that are NOT in one group — the
  negatives verification will actually see (same-class photos, same letterhead);
- hard negatives (docs-dev): every pair of files from different documents of one family (families.json).
Features and the candidate list are cached under --cache (default /tmp/zeuge-bench-verify) so a threshold
sweep re-runs in seconds. The sweep at the end prints both sets at the same thresholds.
"""
import argparse
import itertools
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zeuge_lite.similarity import verify as V  # noqa: E402
from zeuge_lite.similarity.decode import decode_rgb, open_image  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "photos"
if not SHARED.exists():
    SHARED = Path("/work/shared/photos")


def records(images, files, cache):
    cache.mkdir(parents=True, exist_ok=True)
    out, times = {}, []
    for name in files:
        path = cache / (name + ".zvf")
        if path.exists():
            out[name] = V.PageFeatures.from_bytes(path.read_bytes())
            continue
        rgb = decode_rgb(open_image(str(images / name), 300_000_000), V.MAX_SIDE)
        start = time.perf_counter()
        rec = V.page_features(rgb)
        times.append(time.perf_counter() - start)
        path.write_bytes(rec.to_bytes())
        out[name] = rec
    if times:
        print(f"  page_features: {np.mean(times) * 1000:.1f} ms per image (both orientations), n={len(times)}")
    return out


def candidates(images, cache):
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "candidates.json"
    if path.exists():
        return json.loads(path.read_text())
    from zeuge_lite.similarity.grouping import Thresholds
    from zeuge_lite.similarity.scan import scan_folder
    result = scan_folder(images, os.environ.get("ZEUGE_MODEL", "efficientnet-lite0"), Thresholds(),
                         300_000_000, workers=1)
    pairs = [[result.paths[p.a], result.paths[p.b], p.cosine, p.hash_distance] for p in result.pairs]
    path.write_text(json.dumps(pairs))
    return pairs


def load_set(name, cache, sample, rng):
    root = SHARED / name
    truth = json.loads((root / "ground_truth.json").read_text())
    group_of, tier = {}, {}
    for number, group in enumerate(truth["groups"]):
        for item in group["items"]:
            group_of[item], tier[item] = number, group["tier"]
    sets = {}
    for group in truth["groups"]:
        for a, b in itertools.combinations(group["items"], 2):
            sets.setdefault(f"true {group['tier']}", []).append((a, b, None))
    cands = candidates(root / "images", cache / name)
    neg = [(a, b, c) for a, b, c, _h in cands if group_of.get(a, -1 - hash(a)) != group_of.get(b, -2 - hash(b))]
    sets["cand. negatives"] = neg
    cos = {tuple(sorted((a, b))): c for a, b, c, _h in cands}
    if (root / "families.json").exists():
        hard = []
        for family in json.loads((root / "families.json").read_text())["families"]:
            for d1, d2 in itertools.combinations(family["docs"], 2):
                hard += [(a, b, cos.get(tuple(sorted((a, b))))) for a in d1["files"] for b in d2["files"]]
        sets["hard negatives"] = hard
    for key in list(sets):
        sets[key] = [(a, b, cos.get(tuple(sorted((a, b)))) if c is None else c) for a, b, c in sets[key]]
        if sample and len(sets[key]) > sample:
            sets[key] = rng.sample(sets[key], sample)
    wanted = sorted({x for pairs in sets.values() for a, b, _c in pairs for x in (a, b)})
    recs = records(root / "images", wanted, cache / name)
    kinds = {}
    if (root / "families.json").exists():
        for family in json.loads((root / "families.json").read_text())["families"]:
            for doc in family["docs"]:
                for f in doc["files"]:
                    kinds[f] = family["kind"]
    return sets, recs, kinds


def run_pairs(sets, recs):
    results, times = {}, []
    for key, pairs in sets.items():
        rows = []
        for a, b, cosine in pairs:
            start = time.perf_counter()
            r = V.verify_pair(recs[a], recs[b])
            times.append(time.perf_counter() - start)
            rows.append((a, b, cosine, r))
        results[key] = rows
    return results, times


def describe(name, results, times, recs, kinds):
    print(f"\n== {name}")
    if kinds:
        by = {}
        for f, k in kinds.items():
            if f in recs:
                by.setdefault(k, []).append(recs[f].is_text_page)
        print("  text-page detector by kind: " + ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in sorted(by.items())))
    other = [r.is_text_page for f, r in recs.items() if f not in kinds]
    if other and not kinds:
        print(f"  text-page detector: {sum(other)}/{len(other)} photos flagged as text")
    sizes = [len(r.to_bytes()) for r in recs.values()]
    print(f"  record size: median {np.median(sizes) / 1024:.0f} KiB, max {max(sizes) / 1024:.0f} KiB")
    print(f"  verify_pair: median {np.median(times) * 1000:.1f} ms, p95 {np.percentile(times, 95) * 1000:.1f} ms")
    print(f"  {'pairs':16s} {'n':>5s} {'pass%':>6s}  inliers p5/p50/p95     coverage(text) p5/p50/p95")
    for key, rows in results.items():
        if not rows:
            continue
        inl = np.array([r.inliers for *_x, r in rows])
        cov = np.array([r.coverage for *_x, r in rows if r.coverage is not None])
        ok = np.mean([r.verified for *_x, r in rows]) * 100
        c = "/".join(f"{x:.2f}" for x in np.percentile(cov, [5, 50, 95])) if len(cov) else "-"
        spread = "/".join(str(int(x)) for x in np.percentile(inl, [5, 50, 95]))
        print(f"  {key:16s} {len(rows):5d} {ok:6.1f}  {spread:20s}  {c}")


def sweep(name, results):
    """Pass rates if the thresholds were others (from the same fits; the mirror pass may differ slightly)."""
    print(f"  sweep on {name}: pass % per pair kind; text pairs need inliers >= {V.MIN_INLIERS_TEXT}")
    keys = list(results)
    print("    " + "".join(f"{k[:14]:>15s}" for k in keys))
    for cover in (0.25, 0.30, 0.33, 0.36, 0.40, 0.45):
        for photo in (15, 25, 40):
            cells = []
            for key in keys:
                ok = [(r.inliers >= V.MIN_INLIERS_TEXT and (r.coverage or 0) >= cover) if r.text
                      else r.inliers >= photo for *_x, r in results[key]]
                cells.append(f"{100 * np.mean(ok):15.1f}")
            print(f"    cover {cover:.2f} photo {photo:3d}" + "".join(cells))
    for key in keys:
        cov = [r.coverage for *_x, r in results[key] if r.coverage is not None]
        if not key.startswith("true") and cov:
            print(f"    {key}: max text coverage {max(cov):.3f}, "
                  f"max photo inliers {max([r.inliers for *_x, r in results[key] if not r.text] or [0])}")


def failures(results, limit=8):
    for key, rows in results.items():
        want = key.startswith("true")
        bad = [(a, b, c, r) for a, b, c, r in rows if r.verified != want]
        for a, b, c, r in bad[:limit]:
            cs = f"{c:.2f}" if c is not None else "-"
            print(f"    {key}: {a} {b} cos {cs} text {r.text} -> {r.reason} (turn {r.turn} mirror {r.mirrored})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", default="/tmp/zeuge-bench-verify")
    parser.add_argument("--sample", type=int, default=1700, help="pairs per kind at most (0 = all)")
    parser.add_argument("--failures", action="store_true")
    args = parser.parse_args()
    rng = random.Random(11)
    print(f"thresholds: photo inliers >= {V.MIN_INLIERS_PHOTO}; text inliers >= {V.MIN_INLIERS_TEXT}, "
          f"coverage >= {V.MIN_COVERAGE_TEXT}")
    for name in ("docs-dev", "dev"):
        sets, recs, kinds = load_set(name, Path(args.cache), args.sample, rng)
        results, times = run_pairs(sets, recs)
        describe(name, results, times, recs, kinds)
        sweep(name, results)
        if args.failures:
            failures(results)


if __name__ == "__main__":
    main()
