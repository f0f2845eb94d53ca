"""Image embeddings with ONNX models: a small registry, preprocessing per model, a cached session."""
import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

PACKAGE_MODELS = Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class ModelSpec:
    """How to find, feed and read one embedding model."""
    name: str
    filename: str
    input_size: int
    resize: str  # "squash": whole image to a square; "shortest_side_crop": CLIP's resize + centre crop
    resample: int
    mean: tuple
    std: tuple
    scale: float  # pixel values are divided by this before mean/std
    input_name: str
    output_name: str
    dim: int
    sha256: str | None = None
    url: str | None = None
    shipped: bool = False
    # The registry entry whose file is run instead on CPUs without int8 dot-product instructions (see
    # runs_int8_exactly): the int8 graph's name, vectors and table stay, only the file changes.
    fallback: str | None = None

    @property
    def vec_table(self):
        """The sqlite-vec table that holds this model's vectors (never shared between models)."""
        return "vec_" + self.name.replace("-", "_")


_LITE0_INPUT = dict(input_size=224, resize="squash", resample=Image.Resampling.BILINEAR, mean=(127.0, 127.0, 127.0),
                    std=(128.0, 128.0, 128.0), scale=1.0, input_name="pixel_values", output_name="embedding",
                    dim=1280, shipped=True)
MODELS = {
    # The default: the fp32 export below, quantized to int8 by tools/quantize_model.py (1.8x faster here).
    "efficientnet-lite0": ModelSpec(
        name="efficientnet-lite0", filename="efficientnet-lite0-int8.onnx",
        sha256="8978d68c0281a4149578626977828c455ecb6ab75344fa31cf27864e0c44a38b",
        fallback="efficientnet-lite0-fp32", **_LITE0_INPUT),
    "efficientnet-lite0-fp32": ModelSpec(
        name="efficientnet-lite0-fp32", filename="efficientnet-lite0.onnx",
        sha256="164725111542c27348288e72b03d34cd8f62c773eb5ac282d9cbbb6a2e9ff9e5", **_LITE0_INPUT),
    "clip-vit-b32": ModelSpec(
        name="clip-vit-b32", filename="clip-vit-b32-visual.onnx", input_size=224, resize="shortest_side_crop",
        resample=Image.Resampling.BICUBIC, mean=(0.48145466, 0.4578275, 0.40821073),
        std=(0.26862954, 0.26130258, 0.27577711), scale=255.0, input_name="pixel_values",
        output_name="image_embeds", dim=512,
        url="https://huggingface.co/Xenova/clip-vit-base-patch32/resolve/main/onnx/vision_model.onnx"),
}
DEFAULT_MODEL = "efficientnet-lite0"


class ModelUnavailable(RuntimeError):
    """The selected model's file is missing or is not the expected file; the message says what to do."""


def model_spec(name):
    """The registry entry for a model name, or a clear error listing the known ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise ModelUnavailable(f"Unknown model “{name}”; known models: {', '.join(sorted(MODELS))}.") from None


INT8_DOT_PRODUCT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


@functools.cache
def runs_int8_exactly():
    """Whether this CPU multiplies int8 without saturating (VNNI / AMX); ZEUGE_INT8=1 or 0 overrides it.

    Without them onnxruntime's AVX2 int8 kernels add products in 16 bits and saturate: measured on such a CPU,
    the int8 graph's embeddings were at cosine 0.76-0.98 (median 0.945) of the fp32 graph's on 104 photos,
    against min 0.965, median 0.994 with VNNI; there the fp32 graph is run instead."""
    forced = os.environ.get("ZEUGE_INT8")
    if forced in ("0", "1"):
        return forced == "1"
    try:
        flags = {flag for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")
                 for flag in line.split(":", 1)[1].split()}
    except OSError:
        return False
    return any(flag in flags for flag in INT8_DOT_PRODUCT_FLAGS)


def file_spec(spec):
    """The registry entry whose file and sha256 this model runs with on this machine (see ModelSpec.fallback)."""
    return MODELS[spec.fallback] if spec.fallback and not runs_int8_exactly() else spec


def model_path(spec, model_dir=None):
    """Where the model file is: shipped models in the package, fetched ones in model_dir."""
    if spec.shipped:
        return PACKAGE_MODELS / file_spec(spec).filename
    return Path(model_dir or os.environ.get("ZEUGE_MODEL_DIR", "instance/models")) / spec.filename


def file_sha256(path):
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def preprocess(spec, images, turns=(0,)):
    """Turn RGB images into the model's input batch (N x 3 x S x S float32), each image in each of `turns`
    (quarter turns counterclockwise, as Image.rotate(90 * turn, expand=True) would give: the model's square
    input is resized once and then turned, which is the same picture at a fraction of the cost)."""
    std = np.array(spec.std, dtype=np.float32)
    gain, offset = 1.0 / (spec.scale * std), -np.array(spec.mean, dtype=np.float32) / std
    size = spec.input_size
    batch = np.empty((len(images) * len(turns), 3, size, size), np.float32)
    rows = iter(batch)
    for image in images:
        pixels = np.asarray(_resize(spec, image))
        for turn in turns:
            np.copyto(next(rows), np.rot90(pixels, turn).transpose(2, 0, 1), casting="unsafe")
    batch *= gain[:, None, None]  # in place: the same float32 operations, in the same order, as per image
    batch += offset[:, None, None]
    return batch


def _resize(spec, image):
    size = spec.input_size
    if spec.resize == "squash":
        return image.resize((size, size), spec.resample, reducing_gap=2.0)
    scale = size / min(image.size)
    width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
    resized = image.resize((width, height), spec.resample)
    left, top = (width - size) // 2, (height - size) // 2
    return resized.crop((left, top, left + size, top + size))


def l2_normalise(vectors):
    """Rows scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class Embedder:
    """One onnxruntime session for one model; embeds RGB images to L2-normalised vectors."""

    def __init__(self, spec, model_dir=None, threads=None, verify=False):
        import onnxruntime
        path = model_path(spec, model_dir)
        if not path.exists():
            raise ModelUnavailable(_missing_model_message(spec, path))
        if verify and file_spec(spec).sha256 and file_sha256(path) != file_spec(spec).sha256:
            raise ModelUnavailable(f"{path} is not the expected {spec.name} file (sha256 differs).")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # onnxruntime's graph-cleanup warnings are noise to an archivist
        self.spec = spec
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def embed(self, images):
        """L2-normalised embeddings (N x dim, float32) of upright RGB images."""
        if not images:
            return np.zeros((0, self.spec.dim), dtype=np.float32)
        return self._run(preprocess(self.spec, images))

    def embed_views(self, image, turns):
        """Embeddings (len(turns) x dim) of one image in each of these quarter turns; each distinct turn is
        computed once."""
        distinct = sorted(set(turns))
        vectors = self._run(preprocess(self.spec, [image], tuple(distinct)))
        return vectors[[distinct.index(turn) for turn in turns]]

    def _run(self, batch):
        output = self.session.run([self.spec.output_name], {self.spec.input_name: batch})[0]
        # At float16 precision, as the views are stored (half the bytes; cosines move by 1e-4 at most), so that
        # `flask zeuge scan` and the app compare the same numbers.
        return l2_normalise(output.reshape(len(batch), -1).astype(np.float32)).astype(np.float16).astype(np.float32)


def _missing_model_message(spec, path):
    if spec.shipped:
        return f"The shipped model file {path} is missing: reinstall Zeuge Lite (it ships inside the package)."
    return (f"The {spec.name} model is not installed at {path}. On a machine with internet, run "
            f"`flask --app app zeuge model fetch {spec.name}`, or copy the file there (set ZEUGE_MODEL_DIR "
            f"to use another folder).")


VIEWS = 3  # upright, canonical turn, second canonical turn


STORED_VIEW_BYTES = 2  # float16


def views_to_store(vectors):
    """The views as float16 without trailing repeats (a canonical view equal to the upright one, a second
    canonical equal to the first): most photos need one or two of the three, 2.5 KB each at 1,280-d."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float16)
    count = len(vectors)
    while count > 1 and np.array_equal(vectors[count - 1], vectors[count - 2]):
        count -= 1
    return vectors[:count]


def stored_views(blob, dim, view_bytes=STORED_VIEW_BYTES, dtype=np.float32):
    """The VIEWS x dim views (as dtype) of a stored blob: views_to_store's (view_bytes 2), or float32 ones (4) as
    stored before, all three or without repeats."""
    vectors = np.frombuffer(blob, dtype=np.float16 if view_bytes == 2 else np.float32).reshape(-1, dim)
    vectors = vectors.astype(dtype, copy=False)
    if len(vectors) >= VIEWS:
        return vectors
    return np.concatenate([vectors, np.repeat(vectors[-1:], VIEWS - len(vectors), axis=0)])


def stored_views_many(blobs, dim, view_bytes, dtype=np.float32):
    """len(blobs) x VIEWS x dim views of stored blobs (view_bytes: each blob's), as stored_views gives them one
    by one: blobs of one width and view count are read in one piece (a batch of 2,000 one by one costs 60 ms)."""
    out = np.empty((len(blobs), VIEWS, dim), dtype=dtype)
    kinds = {}
    for n, (blob, width) in enumerate(zip(blobs, view_bytes)):
        kinds.setdefault((width, len(blob) // (dim * width)), []).append(n)
    for (width, count), rows in kinds.items():
        block = np.frombuffer(b"".join(blobs[n] for n in rows), dtype=np.float16 if width == 2 else np.float32)
        block = block.reshape(len(rows), count, dim)
        out[rows, :count] = block
        out[rows, count:] = block[:, count - 1:count]  # views stored without repeats: the last one repeats
    return out


COARSE_BITS = 512
SMALL_PRODUCT = 16
_PROJECTIONS = {}


def coarse_codes(vectors):
    """512-bit sign codes of random projections (SimHash) of mean-centred vectors, packed (n x 64 bytes).

    A cheap first pass for nearest-neighbour search: Hamming distance between codes tracks the angle between
    vectors; candidates are then rescored with the float vectors."""
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    dim = vectors.shape[1]
    if dim not in _PROJECTIONS:  # fixed seed: codes must stay comparable across processes and versions
        _PROJECTIONS[dim] = np.random.default_rng(20261122).standard_normal((dim, COARSE_BITS)).astype(np.float32)
    centred = vectors - vectors.mean(axis=1, keepdims=True)
    # A few rows (one item's views, one query) skip BLAS: its threads wake for a 3 x 1280 product and cost
    # 5-13 ms on a loaded 2-core box against 1 ms here (0.08 ms with one BLAS thread, idle).
    projected = np.einsum("ij,jk->ik", centred, _PROJECTIONS[dim]) if len(centred) <= SMALL_PRODUCT \
        else centred @ _PROJECTIONS[dim]
    return np.packbits(projected > 0, axis=1)


_SESSIONS = {}


def get_embedder(name=DEFAULT_MODEL, model_dir=None, threads=None):
    """A cached Embedder per (model, folder, threads) for this process."""
    key = (name, str(model_dir), threads)
    if key not in _SESSIONS:
        _SESSIONS[key] = Embedder(model_spec(name), model_dir, threads)
    return _SESSIONS[key]
