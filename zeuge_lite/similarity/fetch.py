"""Fetch a model that does not ship with the package (CLIP), verify that it loads, record its sha256."""
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from zeuge_lite.similarity.embedding import Embedder, ModelUnavailable, file_sha256, model_path

CHUNK = 1 << 20


def fetch_model(spec, model_dir, url=None, progress=None):
    """Download spec's file into model_dir, check it loads and gives spec.dim outputs; return its sha256."""
    url = url or spec.url
    if not url:
        raise ModelUnavailable(f"{spec.name} ships with Zeuge Lite; there is nothing to fetch.")
    target = model_path(spec, model_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    try:
        _download(url, partial, progress)
        _check_loads(spec, partial)
    except (OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise ModelUnavailable(f"Could not fetch {spec.name} from {url}: {exc}") from None
    except Exception:
        partial.unlink(missing_ok=True)
        raise
    digest = file_sha256(partial)
    partial.replace(target)
    Path(str(target) + ".sha256").write_text(f"{digest}  {target.name}\n{url}\n")
    return digest


def _download(url, path, progress):
    if urllib.parse.urlsplit(url).scheme not in ("https", "file"):  # file: a copy brought on a disk
        raise ValueError("use an https:// or file:// address")
    with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as out:  # noqa: S310 - checked
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        while chunk := response.read(CHUNK):
            out.write(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)


def _check_loads(spec, path):
    """Load the file as the registry entry says and check the output size on a blank image."""
    staged = path.parent / "_verify"
    staged.mkdir(exist_ok=True)
    try:
        shutil.copyfile(path, staged / spec.filename)
        from PIL import Image
        vectors = Embedder(spec, model_dir=staged).embed([Image.new("RGB", (64, 64), (128, 128, 128))])
    except ModelUnavailable:
        raise
    except Exception as exc:  # onnxruntime raises its own types for a broken or foreign graph
        raise ValueError(f"the file does not load as {spec.name} ({exc})") from None
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    if vectors.shape[1] != spec.dim or not np.isfinite(vectors).all():
        raise ValueError(f"the model gives {vectors.shape[1]} numbers per image, expected {spec.dim}")
