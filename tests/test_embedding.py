"""Embedding models: the shipped EfficientNet-Lite0 file and the CLIP code path (with a small stand-in graph)."""
import io

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image, ImageEnhance

from zeuge_lite.demo import PHOTOS_DIR
from zeuge_lite.similarity.embedding import (MODELS, PACKAGE_MODELS, Embedder, ModelUnavailable, file_sha256,
                                             get_embedder, model_path, model_spec, preprocess, runs_int8_exactly)
from zeuge_lite.similarity.features import extract_features
from zeuge_lite.similarity.grouping import view_similarity

LITE0 = MODELS["efficientnet-lite0"]
LITE0_FP32 = MODELS["efficientnet-lite0-fp32"]
CLIP = MODELS["clip-vit-b32"]


def _photo(name):
    return Image.open(PHOTOS_DIR / name).convert("RGB")


@pytest.mark.parametrize("spec", [LITE0, LITE0_FP32], ids=lambda spec: spec.name)
def test_shipped_model_files_are_the_recorded_ones(spec):
    assert file_sha256(PACKAGE_MODELS / spec.filename) == spec.sha256
    assert spec.sha256 in (PACKAGE_MODELS / "PROVENANCE.md").read_text()


@pytest.fixture
def int8_exact(monkeypatch):
    """Set whether this CPU counts as multiplying int8 exactly (ZEUGE_INT8), for one test."""
    def choose(exact):
        monkeypatch.setenv("ZEUGE_INT8", "1" if exact else "0")
        runs_int8_exactly.cache_clear()
    yield choose
    monkeypatch.delenv("ZEUGE_INT8")
    runs_int8_exactly.cache_clear()


def test_without_int8_dot_products_the_default_model_runs_its_fp32_graph(int8_exact):
    int8_exact(False)
    assert model_path(LITE0).name == LITE0_FP32.filename
    fp32 = Embedder(LITE0, verify=True).embed([_photo("kodak-kodim05.png")])
    assert np.array_equal(fp32, Embedder(LITE0_FP32, verify=True).embed([_photo("kodak-kodim05.png")]))
    int8_exact(True)
    assert model_path(LITE0).name == LITE0.filename and Embedder(LITE0, verify=True).spec.name == LITE0.name


@pytest.mark.skipif(not runs_int8_exactly(), reason="this CPU has no int8 dot products (VNNI): the app runs the "
                                                    "fp32 graph here, and onnxruntime's AVX2 int8 kernels saturate")
def test_int8_model_embeds_like_the_fp32_export_it_was_quantized_from():
    photos = [_photo(name) for name in ("kodak-kodim05.png", "kodak-kodim23.png", "skimage-coffee.png")]
    photos.append(photos[0].crop((40, 30, 700, 500)).rotate(90, expand=True))  # a view calibration never saw
    int8, fp32 = Embedder(LITE0, verify=True).embed(photos), Embedder(LITE0_FP32, verify=True).embed(photos)
    assert np.min(np.sum(int8 * fp32, axis=1)) > 0.95


def test_real_model_puts_a_reencoded_copy_far_closer_than_another_photo():
    embedder = Embedder(LITE0, verify=True)
    original = _photo("kodak-kodim05.png")
    buffer = io.BytesIO()
    original.resize((500, 333)).save(buffer, "JPEG", quality=60)
    copy = Image.open(buffer).convert("RGB")
    vectors = embedder.embed([original, copy, _photo("kodak-kodim23.png"), _photo("skimage-coffee.png")])
    assert vectors.shape == (4, 1280)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    same, different = vectors[0] @ vectors[1], max(vectors[0] @ vectors[2], vectors[0] @ vectors[3])
    assert same > 0.9 and different < 0.6 and same - different > 0.3


def test_turned_model_input_is_the_turned_photo_resized():
    photo = _photo("kodak-kodim13.png")
    for turn in (1, 2, 3):
        turned_input = preprocess(LITE0, [photo], (turn,))
        input_of_turned = preprocess(LITE0, [photo.rotate(90 * turn, expand=True)])
        assert np.abs(turned_input - input_of_turned).max() < 0.02  # rounding of one resize, not another picture


def test_turned_rescan_matches_through_the_canonical_views():
    embedder = Embedder(LITE0)
    photo = _photo("kodak-kodim13.png")
    rescan = ImageEnhance.Contrast(photo.crop((12, 8, 760, 505))).enhance(1.2).rotate(270, expand=True)
    original, turned = (extract_features(_png(image), embedder, 10**8).vectors for image in (photo, rescan))
    assert view_similarity(original[None], turned[None])[0, 0] > 0.85 > 0.75 > original[0] @ turned[0]


def test_mirrored_and_turned_scan_still_matches():
    embedder = Embedder(LITE0)
    photo = _photo("kodak-kodim07.png")
    flipped = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).rotate(90, expand=True)  # emulsion side up
    original, scan = (extract_features(_png(image), embedder, 10**8).vectors for image in (photo, flipped))
    assert view_similarity(original[None], scan[None])[0, 0] > 0.85


def _png(image):
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _clip_stand_in(path):
    """A tiny graph with CLIP's visual-tower signature: pixel_values N x 3 x 224 x 224 -> image_embeds N x 512."""
    rng = np.random.default_rng(0)
    weight = helper.make_tensor("w", TensorProto.FLOAT, [3, 512], rng.normal(size=(3, 512)).astype(np.float32).ravel())
    nodes = [helper.make_node("GlobalAveragePool", ["pixel_values"], ["pooled"]),
             helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
             helper.make_node("MatMul", ["flat", "w"], ["image_embeds"])]
    graph = helper.make_graph(
        nodes, "clip_stand_in",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", 512])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9  # what onnxruntime reads, whatever the onnx package writes by default
    onnx.save(model, path)


def test_clip_preprocessing_is_shortest_side_centre_crop_with_clip_mean_and_std():
    image = Image.new("RGB", (448, 300), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 40, 300))  # a left strip the centre crop must cut away
    batch = preprocess(CLIP, [image])
    assert batch.shape == (1, 3, 224, 224) and batch.dtype == np.float32
    expected_red = (1.0 - CLIP.mean[0]) / CLIP.std[0]
    assert np.allclose(batch[0, 0], expected_red, atol=0.05)
    assert np.allclose(batch[0, 2], (0.0 - CLIP.mean[2]) / CLIP.std[2], atol=0.05)


def test_clip_code_path_with_a_graph_of_the_same_signature(tmp_path):
    _clip_stand_in(tmp_path / CLIP.filename)
    embedder = Embedder(CLIP, model_dir=tmp_path)
    vectors = embedder.embed_views(_photo("kodak-kodim05.png"), (0, 1, 1))
    assert vectors.shape == (3, 512) and np.array_equal(vectors[1], vectors[2])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert CLIP.vec_table == "vec_clip_vit_b32" != LITE0.vec_table


def test_missing_model_says_how_to_get_it(tmp_path):
    with pytest.raises(ModelUnavailable, match="zeuge model fetch clip-vit-b32"):
        Embedder(CLIP, model_dir=tmp_path)
    with pytest.raises(ModelUnavailable, match="known models"):
        model_spec("resnet-9000")


def test_model_fetch_downloads_verifies_and_records_sha(runner, app, tmp_path):
    source = tmp_path / "download" / "vision_model.onnx"
    source.parent.mkdir()
    _clip_stand_in(source)
    result = runner.invoke(args=["zeuge", "model", "fetch", "clip-vit-b32", "--url", source.as_uri()])
    assert result.exit_code == 0, result.output
    installed = model_path(CLIP, app.config["MODEL_DIR"])
    assert installed.exists() and file_sha256(installed) in result.output
    assert file_sha256(installed) in (installed.parent / (installed.name + ".sha256")).read_text()
    assert "clip-vit-b32: 512-d, installed" in runner.invoke(args=["zeuge", "model", "list"]).output


def test_model_fetch_refuses_a_file_that_is_not_the_model(runner, app, tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    result = runner.invoke(args=["zeuge", "model", "fetch", "clip-vit-b32", "--url", junk.as_uri()])
    assert result.exit_code != 0 and "does not load" in result.output
    assert not model_path(CLIP, app.config["MODEL_DIR"]).exists()


def test_views_are_stored_without_trailing_repeats_and_read_back_whole():
    from zeuge_lite.similarity.embedding import stored_views, views_to_store
    a, b, c = np.eye(3, 4, dtype=np.float32)
    for views, rows in (([a, a, a], 1), ([a, b, b], 2), ([a, a, c], 3), ([a, b, c], 3)):
        kept = views_to_store(np.stack(views))
        assert len(kept) == rows and kept.dtype == np.float16
        assert np.array_equal(stored_views(kept.tobytes(), 4), np.stack(views))
        assert stored_views(kept.tobytes(), 4).dtype == np.float32


def test_views_stored_as_float32_before_are_read_as_they_were():
    from zeuge_lite.similarity.embedding import stored_views
    views = np.random.default_rng(1).normal(size=(2, 6)).astype(np.float32)
    assert np.array_equal(stored_views(views.tobytes(), 6, view_bytes=4)[:2], views)


def test_embeddings_come_at_the_precision_they_are_stored_in():
    vectors = get_embedder("efficientnet-lite0").embed([Image.new("RGB", (64, 48), (200, 30, 30))])
    assert np.array_equal(vectors, vectors.astype(np.float16).astype(np.float32))
    assert abs(np.linalg.norm(vectors) - 1) < 1e-3


def test_stored_views_many_reads_mixed_blobs_as_stored_views_reads_each():
    from zeuge_lite.similarity.embedding import stored_views, stored_views_many
    rng = np.random.default_rng(3)
    blobs = [rng.standard_normal((count, 8)).astype(dtype).tobytes()
             for count, dtype in ((3, np.float16), (1, np.float16), (2, np.float16), (3, np.float32), (1, np.float32),
                                  (3, np.float16))]
    widths = [2, 2, 2, 4, 4, 2]
    many = stored_views_many(blobs, 8, widths)
    assert many.shape == (6, 3, 8)
    assert np.array_equal(many, np.stack([stored_views(b, 8, w) for b, w in zip(blobs, widths)]))
