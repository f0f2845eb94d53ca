"""Quality on labelled sets: scan with the default thresholds, score with the set's scorer, count the
hard-negative pairs joined (families.json), sweep the thresholds.

    .venv/bin/python bench/bench_quality.py                    # ../shared/photos/dev and docs-dev
    .venv/bin/python bench/bench_quality.py IMAGES_DIR GROUND_TRUTH_JSON [SCORER]

The sets are evaluation only: never copied into the project.
"""
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zeuge_lite.similarity.grouping import Thresholds, group_items  # noqa: E402
from zeuge_lite.similarity.scan import scan_folder, to_json, write_outputs  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "photos"


def main():
    scorer = Path(sys.argv[3]) if len(sys.argv) > 3 else SHARED / "score.py"
    if len(sys.argv) > 2:
        score_set(Path(sys.argv[1]), Path(sys.argv[2]), scorer)
        return
    for name in ("dev", "docs-dev"):
        print(f"== {name}")
        score_set(SHARED / name / "images", SHARED / name / "ground_truth.json", scorer)


def score_set(images, truth, scorer):
    """Scan, score, count hard negatives joined, sweep."""
    out = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    result = scan_folder(images, os.environ.get("ZEUGE_MODEL", "efficientnet-lite0"), Thresholds(), 300_000_000)
    seconds = time.perf_counter() - start
    json_path, _html = write_outputs(result, out)
    print(f"scanned {len(result.paths)} photos in {seconds:.1f} s; thresholds {Thresholds()}")
    scores = subprocess.run([sys.executable, str(scorer), str(truth), str(json_path), "--json"],
                            capture_output=True, text=True, check=True).stdout
    for key, value in json.loads(scores).items():
        print(f"  {key}: {value}")
    checked = [p for p in result.pairs if p.verified is not None]
    print(f"  verified pairs: {len(checked)} of {len(result.pairs)} candidates, {sum(p.verified for p in checked)} "
          f"passed; {sum(p.text for p in checked)} judged as pages of text")
    families = truth.parent / "families.json"
    if families.exists():
        joined = hard_negatives_joined(result, json.loads(families.read_text()))
        print(f"  hard-negative pairs joined: {len(joined)}" + "".join(f"\n    {a} + {b}" for a, b in joined))
    sweep(result, truth, scorer)


def hard_negatives_joined(result, families):
    """Pairs of files from different documents of one family (letterhead, template, text) in one group."""
    group_of = {result.paths[i]: n for n, g in enumerate(result.groups) for i in g.members}
    joined = []
    for family in families["families"]:
        for first, second in itertools.combinations(family["docs"], 2):
            joined += [(a, b) for a in first["files"] for b in second["files"]
                       if a in group_of and group_of[a] == group_of.get(b)]
    return joined


def sweep(result, truth, scorer):
    """How the score moves around the defaults: a plateau means the defaults are not fitted to this set."""
    import runpy
    score = runpy.run_path(str(scorer))["score"]
    truth_data = json.loads(Path(truth).read_text())
    print("sensitivity (threshold = visual similarity floor, hash = near-duplicate pHash bits):")
    for cosine in (0.68, 0.70, 0.72, 0.74, 0.76, 0.78):
        for hash_near in (6, 8, 10):
            result.groups = group_items(result.pairs, Thresholds(hash_near=hash_near, cosine_similar=cosine))
            s = score(truth_data, to_json(result))
            print(f"  threshold {cosine:.2f} hash {hash_near:2d}: precision {s['precision']:.4f} "
                  f"recall {s['recall']:.4f} f1 {s['f1']:.4f} near {s['recall_by_tier'].get('near', 0):.4f}")


if __name__ == "__main__":
    main()
