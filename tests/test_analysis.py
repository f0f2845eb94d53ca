"""Analysis runs (huey in immediate mode here; a real consumer runs in tests/e2e): features, groups,
incremental re-runs, one active run per batch, cancel, stalled workers, per-item failures, plan checks."""
import io
import re

import numpy as np
import pytest
from PIL import Image, ImageOps

from zeuge_lite import analysis, queries
from zeuge_lite import queries_similarity as qs
from zeuge_lite.demo import PHOTOS_DIR
from zeuge_lite.similarity.embedding import l2_normalise, model_spec
from zeuge_lite.similarity.features import Features
from zeuge_lite import tasks
from zeuge_lite.tasks import huey
from tests.conftest import image_bytes


@pytest.fixture
def immediate():
    huey.immediate = True
    yield
    huey.immediate = False


def _jpeg(image, quality=85):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _photo(name):
    return Image.open(PHOTOS_DIR / name).convert("RGB")


@pytest.fixture
def batch(world):
    archive, batch_id = world.own_batch("an@x.org")
    kodim05 = _photo("kodak-kodim05.png")
    world.upload(batch_id,
                 ("kodim05.png", (PHOTOS_DIR / "kodak-kodim05.png").read_bytes()),
                 ("kodim23.png", (PHOTOS_DIR / "kodak-kodim23.png").read_bytes()),
                 ("coffee.png", (PHOTOS_DIR / "skimage-coffee.png").read_bytes()),
                 ("kodim05-rescan.jpg", _jpeg(kodim05.resize((500, 333)), 70)),
                 ("kodim05-turned-sepia.jpg", _jpeg(ImageOps.colorize(
                     ImageOps.grayscale(kodim05.rotate(270, expand=True)), "#2e1f0f", "#f5e6c8"))))
    return batch_id


def _names(conn, batch_id, model="efficientnet-lite0"):
    names = {i["id"]: i["filename"] for i in queries.items_of_batch(conn, batch_id)}
    return sorted(sorted(names[i] for i in ids) for _g, ids in analysis.batch_groups(conn, batch_id, model))


def _indexed_contents(conn):
    """Features ids with views in the vec0 table; checks that no views of other (deleted) contents are left."""
    indexed = {row[0] // qs.VIEW_ROWS for row in conn.execute("SELECT rowid FROM vec_efficientnet_lite0")}
    stored = {row[0] for row in conn.execute("SELECT id FROM features WHERE error IS NULL")}
    assert indexed == stored
    return indexed


def test_run_groups_the_near_duplicates_and_scores_uniqueness(client, conn, batch, immediate):
    response = client.post(f"/batches/{batch}/similarity/run")
    assert response.status_code == 200
    run = qs.latest_run(conn, batch)
    assert (run["status"], run["total"], run["computed"], run["failed_items"]) == ("done", 5, 5, 0)
    assert _names(conn, batch) == [["kodim05-rescan.jpg", "kodim05-turned-sepia.jpg", "kodim05.png"]]
    scores = qs.batch_scores(conn, batch, "efficientnet-lite0")
    by_name = {i["filename"]: scores[i["id"]] for i in queries.items_of_batch(conn, batch)}
    assert by_name["kodim05-rescan.jpg"] < 0.1 < by_name["coffee.png"]
    assert len(_indexed_contents(conn)) == 5
    groups = client.get(f"/batches/{batch}/similarity/groups").data.decode()
    assert "1 group found" in groups, groups
    assert "kodim05-turned-sepia.jpg" in groups and "near-duplicate" in groups


def test_a_large_batch_path_finds_the_same_groups_from_half_precision_views(client, conn, batch, immediate,
                                                                             monkeypatch):
    from zeuge_lite.similarity import neighbours
    monkeypatch.setattr(neighbours, "APPROXIMATE_FROM", 0)  # reduced views and float16 matrices, as from 5,000
    assert client.post(f"/batches/{batch}/similarity/run").status_code == 200
    assert _names(conn, batch) == [["kodim05-rescan.jpg", "kodim05-turned-sepia.jpg", "kodim05.png"]]
    blob = conn.execute("SELECT views, view_bytes FROM features LIMIT 1").fetchone()
    assert blob["view_bytes"] == 2 and len(blob["views"]) % (2 * 1280) == 0


def test_rerun_computes_only_new_items_and_deleted_items_leave_the_index(client, conn, world, batch, immediate):
    client.post(f"/batches/{batch}/similarity/run")
    client.post(f"/batches/{batch}/similarity/run")
    assert qs.latest_run(conn, batch)["computed"] == 0
    world.upload(batch, ("kodim23-copy.jpg", _jpeg(_photo("kodak-kodim23.png"), 80)))
    client.post(f"/batches/{batch}/similarity/run")
    assert qs.latest_run(conn, batch)["computed"] == 1
    assert ["kodim23-copy.jpg", "kodim23.png"] in _names(conn, batch)
    copy_id = next(i["id"] for i in queries.items_of_batch(conn, batch) if i["filename"] == "kodim23-copy.jpg")
    client.post(f"/items/{copy_id}/delete")
    assert ["kodim23-copy.jpg", "kodim23.png"] not in _names(conn, batch)
    assert len(_indexed_contents(conn)) == 6  # in the trash: its features wait for a restore
    entry = conn.execute("SELECT id, archive_id FROM trash WHERE item_id = ?", (copy_id,)).fetchone()
    client.post(f"/archives/{entry['archive_id']}/trash/purge", data={"entry": entry["id"]})
    assert len(_indexed_contents(conn)) == 5  # purged: gone from the index
    client.post(f"/batches/{batch}/similarity/run")
    kodim23 = next(i["id"] for i in queries.items_of_batch(conn, batch) if i["filename"] == "kodim23.png")
    assert qs.batch_scores(conn, batch, "efficientnet-lite0")[kodim23] > 0.2  # no longer near its deleted copy


def test_a_broken_file_is_recorded_on_the_item_and_the_run_goes_on(client, conn, app, batch, immediate):
    item = queries.items_of_batch(conn, batch)[0]
    from zeuge_lite.storage import Storage
    Storage(app.config["STORAGE_DIR"]).original_path(item["sha256"], item["ext"]).write_bytes(b"\x89PNG broken")
    client.post(f"/batches/{batch}/similarity/run")
    run = qs.latest_run(conn, batch)
    assert (run["status"], run["failed_items"]) == ("done", 1)
    errors = qs.batch_feature_errors(conn, batch, "efficientnet-lite0")
    assert [e["filename"] for e in errors] == [item["filename"]]
    assert item["filename"] in client.get(f"/batches/{batch}/similarity/groups").data.decode()


def test_an_unreadable_original_is_retried_once_it_is_back(client, conn, app, batch, immediate):
    item = queries.items_of_batch(conn, batch)[0]
    from zeuge_lite.storage import Storage
    original = Storage(app.config["STORAGE_DIR"]).original_path(item["sha256"], item["ext"])
    kept = original.rename(original.with_suffix(".away"))
    client.post(f"/batches/{batch}/similarity/run")
    assert [e["error"] for e in qs.batch_feature_errors(conn, batch, "efficientnet-lite0")] == [
        "cannot read the file (No such file or directory)"]
    kept.rename(original)  # restored from a backup, say
    client.post(f"/batches/{batch}/similarity/run")
    run = qs.latest_run(conn, batch)
    assert (run["status"], run["computed"], run["failed_items"]) == ("done", 1, 0)
    assert qs.batch_feature_errors(conn, batch, "efficientnet-lite0") == []


def test_second_run_request_returns_the_active_run(client, conn, batch):
    first = client.post(f"/batches/{batch}/similarity/run")  # not immediate: stays queued, no consumer here
    second = client.post(f"/batches/{batch}/similarity/run")
    assert first.status_code == second.status_code == 200
    assert conn.execute("SELECT count(*) FROM runs WHERE batch_id = ?", (batch,)).fetchone()[0] == 1
    assert b"Cancel" in second.data and b'hx-trigger="load delay:1s"' in second.data
    huey.flush()


def test_a_run_button_clicked_before_htmx_loaded_starts_the_run_and_shows_the_tab(client, conn, batch):
    response = client.post(f"/batches/{batch}/similarity/run", data={"answer": "page"})  # a plain form post
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/batches/{batch}/similarity")
    assert qs.latest_run(conn, batch)["status"] == "queued"
    tab = client.get(response.headers["Location"])
    assert b"Cancel" in tab.data and b"<progress" in tab.data
    answer = client.post(f"/batches/{batch}/similarity/run", data={"answer": "page"}, headers={"HX-Request": "true"})
    assert answer.status_code == 200 and b'id="analysis"' in answer.data  # htmx posts the form too: a fragment
    huey.flush()


def test_cancel_a_queued_run(client, conn, batch):
    client.post(f"/batches/{batch}/similarity/run")
    response = client.post(f"/batches/{batch}/similarity/cancel")
    assert qs.latest_run(conn, batch)["status"] == "cancelled" and b"cancelled" in response.data
    assert b"load delay" not in response.data  # polling stops
    huey.flush()


def test_a_run_whose_worker_died_is_marked_failed_with_a_reason(client, conn, batch):
    run, _created = analysis.start_or_get_run(conn, batch, "efficientnet-lite0", {}, None)
    qs.start_run(conn, run["id"])
    conn.execute("UPDATE runs SET heartbeat_at = datetime('now', '-10 minutes') WHERE id = ?", (run["id"],))
    page = client.get(f"/batches/{batch}/similarity/progress").data.decode()
    assert "worker stopped" in page and "load delay" not in page
    assert qs.run_by_id(conn, run["id"])["status"] == "running"  # a page view only reads
    tasks.beat(conn, "host:1", [], stale_s=120)  # a live worker's signs of life record it
    assert qs.run_by_id(conn, run["id"])["status"] == "failed"
    again, created = analysis.start_or_get_run(conn, batch, "efficientnet-lite0", {}, None)
    assert created and again["id"] != run["id"]


def test_a_cancel_clicked_before_htmx_loaded_cancels_and_shows_the_tab(client, conn, batch):
    client.post(f"/batches/{batch}/similarity/run")
    tab = client.get(f"/batches/{batch}/similarity").get_data(as_text=True)
    assert f'action="/batches/{batch}/similarity/cancel"' in tab  # the Cancel button is a form's too
    response = client.post(f"/batches/{batch}/similarity/cancel", data={"answer": "page"})  # a plain form post
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/batches/{batch}/similarity")
    assert qs.latest_run(conn, batch)["status"] == "cancelled"
    assert "The last analysis was cancelled" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_cancel_while_running_stops_between_chunks(conn, app, batch, monkeypatch):
    from zeuge_lite.storage import Storage
    run, _ = analysis.start_or_get_run(conn, batch, "efficientnet-lite0", {}, None)
    monkeypatch.setattr(analysis, "PROGRESS_EVERY_S", 0.0)
    real_report = analysis._report

    def cancel_then_report(connection, run_id, progress):
        qs.request_cancel(connection, run_id)
        real_report(connection, run_id, progress)

    monkeypatch.setattr(analysis, "_report", cancel_then_report)
    settings = analysis.AnalysisSettings("efficientnet-lite0", app.config["MODEL_DIR"], 10**8, 1)
    analysis.run_analysis(conn, Storage(app.config["STORAGE_DIR"]), run["id"], settings)
    finished = qs.run_by_id(conn, run["id"])
    assert finished["status"] == "cancelled" and finished["done"] == 1


def test_the_comparison_beats_the_heartbeat_and_shows_its_own_n_of_total(client, conn, batch, monkeypatch,
                                                                         immediate):
    from zeuge_lite.similarity import neighbours
    monkeypatch.setattr(neighbours, "TILE", 2)  # five items: blocks of two, a report after each tile
    monkeypatch.setattr(analysis, "PROGRESS_EVERY_S", 0.0)  # every report is written, however fast
    real_update, seen = qs.update_run, []

    def age_then_update(connection, run_id, **values):
        # As if the stage before had taken ten minutes: a page would show the run as failed until this write.
        connection.execute("UPDATE runs SET heartbeat_at = datetime('now', '-10 minutes') WHERE id = ?", (run_id,))
        real_update(connection, run_id, **values)
        shown = analysis.run_as_shown(connection, batch)
        seen.append((shown["stage"], shown["done"], shown["total"], shown["status"]))
        if (shown["stage"], shown["done"]) == ("comparing", 2):
            seen.append(client.get(f"/batches/{batch}/similarity/progress").data.decode())

    monkeypatch.setattr(qs, "update_run", age_then_update)
    client.post(f"/batches/{batch}/similarity/run")
    states = [state for state in seen if isinstance(state, tuple)]
    assert all(status == "running" for *_rest, status in states)  # every write brought the run back to life
    assert sorted({(done, total) for stage, done, total, _s in states if stage == "comparing"}) == [
        (0, 5), (2, 5), (4, 5), (5, 5)]
    stages = [stage for stage, *_rest in states]
    assert stages.index("analysing photos") < stages.index("comparing") < stages.index("storing pairs")
    page = next(state for state in seen if isinstance(state, str))
    assert "Comparing" in page and "2 of 5 photos" in page
    run = qs.latest_run(conn, batch)
    assert (run["status"], run["done"], run["total"]) == ("done", 5, 5)


def test_missing_model_fails_the_run_with_the_how_to(conn, app, batch):
    from zeuge_lite.storage import Storage
    run, _ = analysis.start_or_get_run(conn, batch, "clip-vit-b32", {}, None)
    settings = analysis.AnalysisSettings("clip-vit-b32", app.config["MODEL_DIR"], 10**8, 1)
    analysis.run_analysis(conn, Storage(app.config["STORAGE_DIR"]), run["id"], settings)
    failed = qs.run_by_id(conn, run["id"])
    assert failed["status"] == "failed" and "zeuge model fetch clip-vit-b32" in failed["error"]


def _similarity_routes(app):
    return [(rule, method) for rule in app.url_map.iter_rules()
            if rule.endpoint.split(".")[0] in ("similarity", "review", "exports", "similar")
            and rule.endpoint != "similarity.tab"
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]


def _fill(rule, batch_id, item_id):
    return (rule.rule.replace("<int:batch_id>", str(batch_id)).replace("<int:item_id>", str(item_id))
            .replace("<key>", "1-2")
            .replace("<any(json, html, csv, zip):fmt>", "zip").replace("<any(exact, near):tier>", "exact"))


def test_every_similarity_endpoint_refuses_a_free_archive_on_the_server(app, client, world, conn):
    _user, archive = world.user("free@x.org", plan="free")
    world.login("free@x.org")
    batch_id = world.batch(archive)
    [uploaded] = world.upload(batch_id, ("one.jpg", image_bytes()))
    routes = _similarity_routes(app)
    assert len(routes) >= 12 and any("<int:item_id>" in rule.rule for rule, _method in routes)
    for rule, method in routes:
        response = client.open(_fill(rule, batch_id, uploaded["item_id"]), method=method)
        assert response.status_code == 402 and b"upgrade-prompt" in response.data, rule.rule
    assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_a_viewer_can_look_but_not_run(app, client, world, conn, batch):
    viewer, _own = world.user("viewer@x.org")
    archive = conn.execute("SELECT archive_id FROM batches WHERE id = ?", (batch,)).fetchone()[0]
    queries.add_member(conn, archive, viewer, "viewer")
    world.login("viewer@x.org")
    assert client.post(f"/batches/{batch}/similarity/run").status_code == 403
    assert client.get(f"/batches/{batch}/similarity/progress").status_code == 200
    assert b"run-analysis" not in client.get(f"/batches/{batch}/similarity").data


def test_similar_items_for_a_stored_item_and_an_outside_image(client, conn, app, world, batch, immediate):
    client.post(f"/batches/{batch}/similarity/run")
    items = {i["filename"]: i["id"] for i in queries.items_of_batch(conn, batch)}
    found = analysis.similar_to_item(conn, "efficientnet-lite0", items["kodim05.png"], k=3, batch_id=batch)
    names = [row["filename"] for row, _score in found]
    assert names[:2] == ["kodim05-rescan.jpg", "kodim05-turned-sepia.jpg"] or \
        set(names[:2]) == {"kodim05-rescan.jpg", "kodim05-turned-sepia.jpg"}
    assert found[0][1] > 0.9 > found[-1][1] and "kodim05.png" not in names
    outside = _jpeg(_photo("kodak-kodim23.png").crop((40, 40, 700, 480)), 75)
    features_before = conn.execute("SELECT count(*) FROM features").fetchone()[0]
    matches = analysis.similar_to_image(conn, "efficientnet-lite0", outside, 10**8, k=2, batch_id=batch,
                                        model_dir=app.config["MODEL_DIR"])
    assert matches[0][0]["filename"] == "kodim23.png" and matches[0][1] > 0.8
    assert conn.execute("SELECT count(*) FROM features").fetchone()[0] == features_before


def test_an_index_of_the_earlier_layout_is_rebuilt_with_codes_only(client, conn, batch, monkeypatch, immediate):
    client.post(f"/batches/{batch}/similarity/run")
    spec = model_spec("efficientnet-lite0")
    before = sorted(tuple(r) for r in conn.execute("SELECT rowid, canonical, coarse FROM vec_efficientnet_lite0"))
    conn.execute("DROP TABLE vec_efficientnet_lite0")  # as databases made before it held float vectors too
    conn.execute("CREATE VIRTUAL TABLE vec_efficientnet_lite0 USING vec0(canonical integer partition key, "
                 "embedding float[1280] distance_metric=cosine, coarse bit[512])")
    qs.ensure_vec_table(conn, spec)
    assert "float[" not in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'vec_efficientnet_lite0'"
                                        ).fetchone()[0]
    after = sorted(tuple(r) for r in conn.execute("SELECT rowid, canonical, coarse FROM vec_efficientnet_lite0"))
    assert after == before and len(after) >= 10
    monkeypatch.setattr(analysis, "WHOLE_SCOPE", 0)  # through the coarse codes, not scored whole
    items = {i["filename"]: i["id"] for i in queries.items_of_batch(conn, batch)}
    found = analysis.similar_to_item(conn, "efficientnet-lite0", items["kodim05.png"], k=2, batch_id=batch)
    assert {row["filename"] for row, _score in found} == {"kodim05-rescan.jpg", "kodim05-turned-sepia.jpg"}


def test_similar_items_stay_inside_the_archive(client, conn, world, batch, immediate):
    client.post(f"/batches/{batch}/similarity/run")
    _other_user, other_archive = world.user("other@x.org")
    world.login("other@x.org")
    other_batch = world.batch(other_archive)
    world.upload(other_batch, ("mine.png", (PHOTOS_DIR / "kodak-kodim05.png").read_bytes()))
    client.post(f"/batches/{other_batch}/similarity/run")
    mine = queries.items_of_batch(conn, other_batch)[0]["id"]
    found = analysis.similar_to_item(conn, "efficientnet-lite0", mine, k=10, archive_id=other_archive)
    assert found == []  # the same photo in another archive is not revealed


@pytest.mark.parametrize("whole_scope", [analysis.WHOLE_SCOPE, 0], ids=["small scope scored whole", "search widens"])
def test_similar_items_look_further_when_other_archives_crowd_the_candidates(conn, monkeypatch, whole_scope):
    monkeypatch.setattr(analysis, "WHOLE_SCOPE", whole_scope)
    rng = np.random.default_rng(3)
    spec = model_spec("efficientnet-lite0")
    qs.ensure_vec_table(conn, spec)
    query = l2_normalise(rng.normal(size=(1, spec.dim))).astype(np.float32)[0]
    big, small = (queries.create_batch(conn, queries.create_archive(conn, name, "pro"), name) for name in "AB")
    crowd = [query + rng.normal(scale=0.002, size=spec.dim) for _ in range(60)]  # closer than ours, elsewhere
    for n, (batch_id, vector) in enumerate([(big, v) for v in crowd] + [(small, query + rng.normal(
            scale=0.02, size=spec.dim))]):
        sha = f"{n:064x}"
        conn.execute("INSERT INTO files (sha256, size, ext, format, mode, width, height) "
                     "VALUES (?, 1, 'jpg', 'JPEG', 'RGB', 1, 1)", (sha,))
        conn.execute("INSERT INTO items (batch_id, sha256, filename, position) VALUES (?, ?, ?, ?)",
                     (batch_id, sha, f"{n}.jpg", n))
        views = np.repeat(l2_normalise(vector[None, :]).astype(np.float32), 3, axis=0)
        qs.save_features(conn, spec, sha, Features(1, 1, np.zeros(8, np.uint64), views))
    archive_b = conn.execute("SELECT archive_id FROM batches WHERE id = ?", (small,)).fetchone()[0]
    found = analysis.similar_items(conn, spec.name, np.repeat(query[None, :], 3, axis=0), k=5,
                                   archive_id=archive_b)
    assert [row["filename"] for row, _score in found] == ["60.jpg"]


def test_tier_labels_say_exact_only_for_the_same_picture(client, world, immediate):
    from PIL import ImageEnhance
    archive, batch_id = world.own_batch("tiers@x.org")
    original = _photo("kodak-kodim23.png")
    variants = {"reencoded.jpg": _jpeg(original.resize((384, 256)), 75),
                "sepia.jpg": _jpeg(ImageOps.colorize(ImageOps.grayscale(original), "#2e1f0f", "#f5e6c8")),
                "grey.jpg": _jpeg(ImageOps.grayscale(original).convert("RGB")),
                "tinted.jpg": _jpeg(ImageEnhance.Color(original).enhance(1.6)),
                "turned.jpg": _jpeg(original.rotate(90, expand=True)),
                "cropped.jpg": _jpeg(original.crop((40, 30, 728, 482)))}
    results = world.upload(batch_id, ("original.png", (PHOTOS_DIR / "kodak-kodim23.png").read_bytes()),
                           *variants.items())
    ids = {r["filename"]: r["item_id"] for r in results}
    client.post(f"/batches/{batch_id}/similarity/run")
    labels = {}
    for name in variants:
        key = "-".join(str(i) for i in sorted((ids["original.png"], ids[name])))
        card = client.get(f"/batches/{batch_id}/similarity/group/{key}").data.decode()
        assert re.search(r"photos · \d\d% alike", card), name  # 100 % is an identical file, not a copy of it
        labels[name] = "exact copy" if "exact copy" in card else "near-duplicate" if "near-duplicate" in card \
            else "similar" if ">similar<" in card else "?"
    assert labels["reencoded.jpg"] == "exact copy"
    assert {labels[n] for n in variants if n != "reencoded.jpg"} <= {"near-duplicate", "similar"}, labels
