"""The review screen: expand, keep-best, delete, place together, not duplicates (remembered), metadata
compare and consolidation, exports, audit log; viewers, CSRF."""
import csv
import io
import re
from urllib.parse import parse_qs

import pytest
from PIL import ImageFilter

from tests.conftest import image_bytes
from tests.test_analysis import _jpeg, _photo
from zeuge_lite import create_app, queries
from zeuge_lite import queries_review as qr
from zeuge_lite import queries_similarity as qs
from zeuge_lite.demo import PHOTOS_DIR
from zeuge_lite.review import together_order
from zeuge_lite.tasks import huey


@pytest.fixture
def analysed(world, client, conn):
    """A pro batch with a three-copy group of kodim05 (best: the PNG) and other photos, analysed."""
    huey.immediate = True
    archive, batch = world.own_batch("rev@x.org")
    kodim05 = _photo("kodak-kodim05.png")
    world.upload(batch, ("first.png", (PHOTOS_DIR / "kodak-kodim23.png").read_bytes()),
                 ("small.jpg", _jpeg(kodim05.resize((384, 256)), 70)),
                 ("master.png", (PHOTOS_DIR / "kodak-kodim05.png").read_bytes()),
                 ("coffee.png", (PHOTOS_DIR / "skimage-coffee.png").read_bytes()),
                 ("blurred.jpg", _jpeg(kodim05.filter(ImageFilter.GaussianBlur(1.5)), 80)))
    client.post(f"/batches/{batch}/similarity/run")
    yield batch, archive, {i["filename"]: i["id"] for i in queries.items_of_batch(conn, batch)}
    huey.immediate = False


def _key(ids, *names):
    return "-".join(str(i) for i in sorted(ids[n] for n in names))


GROUP = ("small.jpg", "master.png", "blurred.jpg")


def test_groups_list_and_expanded_card_with_keeper_reasons(client, analysed):
    batch, _archive, ids = analysed
    listing = client.get(f"/batches/{batch}/similarity/groups").data.decode()
    assert "1 group found" in listing and _key(ids, *GROUP) in listing
    card = client.get(f"/batches/{batch}/similarity/group/{_key(ids, *GROUP)}").data.decode()
    assert re.search(r'class="card group-card expanded tier-(exact|near)"', card)  # its stripe, as collapsed
    assert "Suggested keeper: <strong>master.png</strong>" in card and "lossless PNG where others are lossy" in card
    assert "768 × 512" in card and "Sharpness" in card and "in the batch" in card
    reload = client.get(f"/batches/{batch}/similarity?open={_key(ids, *GROUP)}").data.decode()
    assert f'id="groups" hx-get="/batches/{batch}/similarity/groups?open={_key(ids, *GROUP)}"' in reload


def test_delete_needs_a_confirmation_then_removes_exactly_like_the_items_tab(client, conn, analysed):
    batch, archive, ids = analysed
    key = _key(ids, *GROUP)
    client.post(f"/items/{ids['small.jpg']}/responses", data={"body": "a note"})
    confirm = client.get(f"/batches/{batch}/similarity/group/{key}/delete?keep=suggested").data.decode()
    assert "Move 2 items to the trash?" in confirm and "small.jpg" in confirm and "blurred.jpg" in confirm
    assert "restorable from the archive's trash for 30 days" in confirm
    assert queries.items_of_batch(conn, batch) and len(queries.items_of_batch(conn, batch)) == 5  # nothing yet
    after = client.post(f"/batches/{batch}/similarity/group/{key}/delete",
                        data={"item": [ids["small.jpg"], ids["blurred.jpg"]]}).data.decode()
    assert "Group resolved" in after and "2 items moved to the trash, restorable for 30 days" in after
    assert sorted(i["filename"] for i in queries.items_of_batch(conn, batch)) == ["coffee.png", "first.png",
                                                                                 "master.png"]
    assert conn.execute("SELECT count(*) FROM responses").fetchone()[0] == 0  # they wait in the trash
    assert conn.execute("SELECT count(*) FROM trash WHERE archive_id = ?", (archive,)).fetchone()[0] == 2
    entry = qr.audit_entries(conn, archive)[0]
    assert entry["action"] == "trash" and entry["group_key"] == key and "small.jpg" in entry["detail"]
    assert "from a group card" in entry["detail"]


def test_delete_without_a_choice_or_of_every_copy_is_refused(client, conn, analysed):
    batch, _archive, ids = analysed
    key = _key(ids, *GROUP)
    assert client.post(f"/batches/{batch}/similarity/group/{key}/delete").status_code == 422
    every = {"item": [ids[n] for n in GROUP]}
    assert client.post(f"/batches/{batch}/similarity/group/{key}/delete", data=every).status_code == 422
    assert len(queries.items_of_batch(conn, batch)) == 5


def test_place_together_moves_members_after_the_first_of_them(client, conn, analysed):
    batch, _archive, ids = analysed
    response = client.post(f"/batches/{batch}/similarity/group/{_key(ids, *GROUP)}/place-together")
    assert b"Placed together at positions 2" in response.data
    order = [i["filename"] for i in queries.items_of_batch(conn, batch)]
    assert order == ["first.png", "small.jpg", "master.png", "blurred.jpg", "coffee.png"]


def test_together_order_uses_capture_time_when_every_member_has_one():
    members = [{"id": 5, "taken_at": "1931-05-02"}, {"id": 2, "taken_at": "1931-05-01"}]
    assert together_order([1, 2, 3, 4, 5], members) == [1, 2, 5, 3, 4]
    undated = [{"id": 5, "taken_at": None}, {"id": 2, "taken_at": "1931-05-01"}]
    assert together_order([1, 5, 3, 2], undated) == [1, 5, 2, 3]


def test_not_duplicates_is_remembered_across_reruns_and_reuploads_and_can_be_undone(client, world, conn,
                                                                                     analysed):
    batch, archive, ids = analysed
    key = _key(ids, *GROUP)
    assert b"Marked as not duplicates" in client.post(f"/batches/{batch}/similarity/group/{key}/dismiss").data
    assert b"0 groups found" in client.get(f"/batches/{batch}/similarity/groups").data
    client.post(f"/items/{ids['small.jpg']}/delete")  # re-upload the same file: still dismissed
    world.upload(batch, ("small-again.jpg", _jpeg(_photo("kodak-kodim05.png").resize((384, 256)), 70)))
    client.post(f"/batches/{batch}/similarity/run")
    assert b"0 groups found" in client.get(f"/batches/{batch}/similarity/groups").data
    listing = client.get(f"/batches/{batch}/similarity/dismissals").data.decode()
    assert listing.count(">Undo<") == 3
    for sha_a, sha_b in qr.dismissed_pairs(conn, archive):
        client.post(f"/batches/{batch}/similarity/dismissals/undo", data={"sha_a": sha_a, "sha_b": sha_b})
    assert b"1 group found" in client.get(f"/batches/{batch}/similarity/groups").data


def test_one_member_can_be_marked_not_a_duplicate(client, analysed):
    batch, _archive, ids = analysed
    card = client.post(f"/batches/{batch}/similarity/group/{_key(ids, *GROUP)}/dismiss",
                       data={"member": ids["blurred.jpg"]}).data.decode()
    assert "blurred.jpg" not in card and "master.png" in card
    listing = client.get(f"/batches/{batch}/similarity/groups").data.decode()
    assert _key(ids, "small.jpg", "master.png") in listing


def test_metadata_compare_and_copy_to_keeper(client, conn, analysed):
    batch, archive, ids = analysed
    key = _key(ids, *GROUP)
    client.post(f"/items/{ids['small.jpg']}/metadata", data={"title": "Motor race, 1955"})
    table = client.get(f"/batches/{batch}/similarity/group/{key}/compare").data.decode()
    assert 'class="differs"' in table and "Motor race, 1955" in table and "copy to keeper" in table
    client.post(f"/batches/{batch}/similarity/group/{key}/copy",
                data={"field": "title", "source": ids["small.jpg"], "target": ids["master.png"]})
    master = conn.execute("SELECT title FROM items WHERE id = ?", (ids["master.png"],)).fetchone()[0]
    assert master == "Motor race, 1955"
    bad = client.post(f"/batches/{batch}/similarity/group/{key}/copy",
                      data={"field": "sha256", "source": ids["small.jpg"], "target": ids["master.png"]})
    assert bad.status_code == 422
    assert qr.audit_entries(conn, archive)[0]["action"] == "copy metadata"


def test_exports_json_csv_html(client, analysed):
    batch, _archive, ids = analysed
    report = client.get(f"/batches/{batch}/similarity/export.json").get_json()
    assert set(report) >= {"model", "threshold", "items", "errors", "groups", "made_at", "skipped", "plain"}
    assert report["items"] == 5  # the batch's items, not only the grouped ones
    members = report["groups"][0]["items"]
    assert sorted(i["path"] for i in members) == sorted(GROUP)
    assert all(0 <= i["uniqueness"] < 0.2 for i in members)  # the scan's keys, filled (they were missing)
    assert [i["path"] for i in members if i["suggested_keeper"]] == ["master.png"]
    rows = list(csv.DictReader(io.StringIO(client.get(f"/batches/{batch}/similarity/export.csv").data.decode())))
    assert [r["path"] for r in rows if r["suggested_keeper"] == "yes"] == ["master.png"]
    html = client.get(f"/batches/{batch}/similarity/export.html").data.decode()
    assert html.count("data:image/jpeg;base64,") == 3 and "<style>" in html
    assert "suggested keeper" in html and "Made 20" in html and "visual similarity ≥ 74 %" in html


def test_the_html_report_stops_inlining_thumbnails_at_its_limit_and_says_so(client, analysed, monkeypatch):
    from zeuge_lite import report
    batch, _archive, _ids = analysed
    monkeypatch.setattr(report, "MAX_THUMBNAILS", 2)
    html = client.get(f"/batches/{batch}/similarity/export.html").data.decode()
    assert html.count("data:image/jpeg;base64,") == 2 and all(name in html for name in GROUP)
    assert "Thumbnails are shown for the first 2 photos; later groups list names" in html


def test_viewer_can_look_but_not_act_and_audit_is_for_owners(client, world, conn, analysed):
    batch, archive, ids = analysed
    viewer, _own = world.user("view@x.org")
    queries.add_member(conn, archive, viewer, "viewer")
    world.logout()
    world.login("view@x.org")
    key = _key(ids, *GROUP)
    assert client.get(f"/batches/{batch}/similarity/group/{key}").status_code == 200
    for action in ("delete", "place-together", "dismiss"):
        assert client.post(f"/batches/{batch}/similarity/group/{key}/{action}",
                           data={"item": ids["small.jpg"]}).status_code == 403
    assert client.get(f"/archives/{archive}/audit").status_code == 403
    assert len(queries.items_of_batch(conn, batch)) == 5


def test_review_actions_need_the_csrf_token(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp_path / "db.sqlite3"),
                      "STORAGE_DIR": str(tmp_path / "s"), "MODEL_DIR": str(tmp_path / "m")})
    client = app.test_client()
    assert client.post("/batches/1/similarity/group/1-2/delete").status_code == 400


def test_item_page_lists_similar_items_in_batch_and_archive(client, world, conn, analysed):
    batch, archive, ids = analysed
    page = client.get(f"/items/{ids['master.png']}").data.decode()
    assert f'hx-get="/items/{ids["master.png"]}/similar"' in page
    fragment = client.get(f"/items/{ids['master.png']}/similar").data.decode()
    assert "small.jpg" in fragment and "blurred.jpg" in fragment
    assert "% alike" in fragment and "master.png</span>" not in fragment
    other = world.batch(archive, "Box 2")
    world.upload(other, ("elsewhere.jpg", _jpeg(_photo("kodak-kodim05.png"), 60)))
    client.post(f"/batches/{other}/similarity/run")
    assert "elsewhere.jpg" not in client.get(f"/items/{ids['master.png']}/similar").data.decode()
    assert "elsewhere.jpg" in client.get(f"/items/{ids['master.png']}/similar?scope=archive").data.decode()


def test_find_this_photo_matches_and_stores_nothing(client, conn, analysed):
    batch, _archive, ids = analysed
    before = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("files", "features", "items")]
    photo = _jpeg(_photo("kodak-kodim23.png").crop((30, 30, 740, 490)), 75)
    page = client.post(f"/batches/{batch}/find", data={"photo": (io.BytesIO(photo), "outside.jpg")},
                       content_type="multipart/form-data").data.decode()
    assert "Already in this batch:" in page and page.index("first.png") < page.index("% alike")
    assert "near-duplicate" in page and 'src="data:image/jpeg;base64,' in page  # the searched photo, beside
    after = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("files", "features", "items")]
    assert before == after
    bad = client.post(f"/batches/{batch}/find", data={"photo": (io.BytesIO(b"no image"), "x.jpg")},
                      content_type="multipart/form-data")
    assert bad.status_code == 422 and b"not an image" in bad.data


def test_free_plan_item_page_has_no_similar_items(client, world):
    _user, archive = world.user("free2@x.org", plan="free")
    world.login("free2@x.org")
    batch = world.batch(archive)
    item = world.upload(batch, ("a.png", (PHOTOS_DIR / "kodak-kodim03.png").read_bytes()))[0]["item_id"]
    assert b"/similar" not in client.get(f"/items/{item}").data
    assert client.get(f"/items/{item}/similar").status_code == 402


def test_items_grid_sorts_and_filters_by_uniqueness_with_a_histogram(client, analysed):
    batch, _archive, ids = analysed
    page = client.get(f"/batches/{batch}/items").data.decode()
    assert "<svg class=\"histogram\"" in page and "Likely duplicates" in page
    likely = client.get(f"/batches/{batch}/items?sort=uniqueness&max=0.1").data.decode()
    names = [n for n in ids if f'id="item-{ids[n]}"' in likely]
    assert set(names) <= set(GROUP) and "coffee.png" not in names and len(names) >= 2
    ordered = client.get(f"/batches/{batch}/items?sort=uniqueness").data.decode()
    assert ordered.index(f'id="item-{ids["coffee.png"]}"') > ordered.index(f'id="item-{ids["master.png"]}"')
    assert "Reordering is off" in ordered


def test_uniqueness_histogram_bins(world, conn):
    archive, batch = world.own_batch("bins@x.org")
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (250, 250, 0)]
    items = [r["item_id"] for r in world.upload(batch, *[(f"{n}.png", image_bytes("PNG", color=c))
                                                          for n, c in enumerate(colours)])]
    qs.save_scores(conn, "m", [(i, 1 - u, None, u) for i, u in zip(items, [0.0, 0.05, 0.5, 1.0])])
    assert qs.uniqueness_counts(conn, batch, "m", 10) == [2, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert qs.count_scored_in_range(conn, batch, "m", 0.0, 0.1) == 2
    least_unique = qs.scored_items_in_range(conn, batch, "m", 0.04, 1.0, True, 0, 2)
    assert [row["id"] for row in least_unique] == items[1:3]


def test_pre_accession_check_flags_new_uploads_the_archive_already_holds(client, world, conn, analysed):
    batch, archive, ids = analysed
    assert b"data-precheck-url" in client.get(f"/batches/{batch}/upload").data
    new_batch = world.batch(archive, "Box 3")
    results = world.upload(new_batch, ("again.jpg", _jpeg(_photo("kodak-kodim23.png"), 65)),
                           ("new.png", (PHOTOS_DIR / "kodak-kodim15.png").read_bytes()))
    new_ids = ",".join(str(r["item_id"]) for r in results)
    page = client.post(f"/batches/{new_batch}/precheck", data={"items": new_ids}).data.decode()
    assert "1 of 2 new photos may already be in the archive" in page
    assert f'href="/items/{ids["first.png"]}"' in page and "(another batch)" in page
    again = results[0]["item_id"]
    after = client.post(f"/batches/{new_batch}/precheck/not-duplicate",
                        data={"item": again, "other": ids["first.png"], "items": new_ids}).data.decode()
    assert "0 of 2 new photos" in after


def test_a_stale_card_or_double_click_changes_nothing_and_says_so(client, conn, analysed):
    batch, _archive, ids = analysed
    key = _key(ids, *GROUP)
    client.post(f"/batches/{batch}/similarity/group/{key}/delete", data={"item": ids["small.jpg"]})
    again = client.post(f"/batches/{batch}/similarity/group/{key}/delete", data={"item": ids["small.jpg"]})
    assert again.status_code == 409 and b"This group has changed" in again.data
    stale_place = client.post(f"/batches/{batch}/similarity/group/{key}/place-together")
    assert stale_place.status_code == 409
    assert len(queries.items_of_batch(conn, batch)) == 4


def test_a_similar_series_preselects_nothing_and_offers_place_together_first(app, client, world, conn):
    archive, batch = world.own_batch("series@x.org")
    ids = [r["item_id"] for r in world.upload(batch, ("one.png", image_bytes("PNG", color=(10, 90, 200))),
                                               ("two.png", image_bytes("PNG", color=(200, 90, 10))))]
    qs.save_pairs(conn, batch, app.config["MODEL"], [(ids[0], ids[1], 0.80, 30, 0, 0, None, None, None, 0, None)])
    card = client.get(f"/batches/{batch}/similarity/group/{ids[0]}-{ids[1]}").data.decode()
    assert "similar" in card and "nothing is ticked for deletion" in card
    assert 'name="item"' in card and "checked" not in card
    assert card.index("Place together") < card.index("Delete selected") and "Keep suggested" not in card


def test_side_by_side_labels_the_keeper_and_the_candidate_or_shows_the_two_ticked(client, analysed):
    batch, _archive, ids = analysed
    url = f"/batches/{batch}/similarity/group/{_key(ids, *GROUP)}/side-by-side"
    default = client.get(url).data.decode()
    caption = r'<figcaption><strong>([^<]+)</strong>: <span class="filename">([^<]+)</span> · (\d+) × (\d+) px'
    captions = re.findall(caption, default)
    assert [c[:2] for c in captions][0] == ("Suggested keeper", "master.png") and captions[1][0] == "Candidate"
    assert captions[0][2:] == ("768", "512") and "Close side by side" in default and 'data-zoom="1"' in default
    ticked = client.get(f"{url}?item={ids['small.jpg']}&item={ids['blurred.jpg']}").data.decode()
    assert re.findall(r'class="filename">([^<]+)<', ticked) == ["small.jpg", "blurred.jpg"]
    assert "Suggested keeper" not in ticked.split("sbs-row")[1]


def test_the_slider_and_presets_agree_with_the_cards(app, client, world, conn):
    archive, batch = world.own_batch("slider@x.org")
    ids = [r["item_id"] for r in world.upload(batch, *((f"{n}.png", image_bytes("PNG", color=(40 * n, 90, 10)))
                                                        for n in range(4)))]
    qs.save_pairs(conn, batch, app.config["MODEL"], [(ids[0], ids[1], 0.80, 30, 0, 0, None, None, None, 0, None),
                                                     (ids[2], ids[3], 0.66, 30, 0, 0, None, None, None, 0, None)])

    def shown(query):
        page = client.get(f"/batches/{batch}/similarity/groups?{query}").data.decode()
        return page, [int(n) for n in re.findall(r"photos · (\d+)% alike", page)]
    for percent, expected in ((None, [80]), (65, [80, 66]), (82, []), (99, [])):
        page, scores = shown(f"threshold={percent}" if percent else "")
        assert scores == expected, percent
        slider = min(max(percent or 74, 60), 84)
        assert f'name="threshold" id="threshold" min="60" max="84" step="1" value="{slider}"' in page
        assert all(score >= slider for score in scores)
    near, scores = shown("level=near&threshold=65")
    assert scores == [] and "Choose “Similar photos” to include series." in near
    assert re.search(r'name="threshold"[^>]*disabled', near)


def test_overview_and_resolve_all_keep_each_keeper_and_trash_the_rest(client, conn, analysed):
    batch, archive, ids = analysed
    listing = client.get(f"/batches/{batch}/similarity/groups").data.decode()
    tier = "exact" if "Exact copies: <strong>1</strong>" in listing else "near"
    assert "(3 photos)" in listing and "would free" in listing and f"/similarity/resolve/{tier}" in listing
    confirm = client.get(f"/batches/{batch}/similarity/resolve/{tier}").data.decode()
    assert "1 group: each keeps its suggested keeper" in confirm and "2 photos" in confirm
    assert "keep <strong>master.png</strong>" in confirm and sorted(queries.item_ids_in_order(conn, batch)) == \
        sorted(ids.values())  # the confirmation changes nothing
    done = client.post(f"/batches/{batch}/similarity/resolve/{tier}", follow_redirects=True).data.decode()
    assert "kept each suggested keeper; 2 photos moved to the trash, restorable for 30 days" in done
    assert sorted(i["filename"] for i in queries.items_of_batch(conn, batch)) == ["coffee.png", "first.png",
                                                                                 "master.png"]
    entry = qr.audit_entries(conn, archive)[0]
    assert entry["action"] == "trash" and "resolve all" in entry["detail"] and entry["group_key"] == _key(ids, *GROUP)
    other = "near" if tier == "exact" else "exact"
    assert "There are no" in client.get(f"/batches/{batch}/similarity/resolve/{other}").data.decode()


def test_the_groups_fragment_answers_with_every_view_state(client, analysed):
    batch, _archive, _ids = analysed
    for query in ("level=exact&threshold=74&tier=&sort=score", "tier=near&sort=size&page=1", "open=1-2&tier=exact"):
        response = client.get(f"/batches/{batch}/similarity/groups?{query}")
        assert response.status_code == 200, query
        path, _, pushed = response.headers["HX-Replace-Url"].partition("?")
        asked = {k: v for k, v in parse_qs(query, keep_blank_values=True).items() if k != "page"}  # not state
        assert path == f"/batches/{batch}/similarity" and parse_qs(pushed, keep_blank_values=True) == asked
    reload = client.get(f"/batches/{batch}/similarity?tier=near&sort=size&level=near").data.decode()
    loads = re.search(r'id="groups" hx-get="([^"]+)"', reload).group(1).replace("&amp;", "&")
    groups = client.get(loads).data.decode()
    assert re.search(r'<option value="near"\s+selected', groups) and re.search(r'value="size"\s+selected', groups)


def test_find_says_not_in_the_batch_for_an_unrelated_photo_and_lists_no_weak_matches(client, analysed):
    batch, _archive, _ids = analysed
    unrelated = _jpeg(_photo("kodak-kodim15.png"), 80)  # not in the batch
    page = client.post(f"/batches/{batch}/find", data={"photo": (io.BytesIO(unrelated), "outside.jpg")},
                       content_type="multipart/form-data").data.decode()
    assert "Not in this batch (closest:" in page and "Already in" not in page
    verdict = page[page.index('id="verdict"'):page.index("</h3>", page.index('id="verdict"'))]
    closest = int(verdict.split("closest: ")[1].split("%")[0])
    assert closest < 85 and ("related item" in page) == (closest >= 60)


def test_item_pages_list_only_related_items(client, analysed):
    _batch, _archive, ids = analysed
    fragment = client.get(f"/items/{ids['coffee.png']}/similar").data.decode()
    scores = [int(n) for n in re.findall(r'<span class="muted">(\d+)% alike</span>', fragment)]
    assert all(score >= 60 for score in scores)
    if not scores:
        assert "No related items: the closest is" in fragment
