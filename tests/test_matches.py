"""The expanded card's "why" picture (issue 11): two thumbnails side by side with the verified pair's matches
drawn, computed on demand from the cached records; only for verified pairs, behind the plan and archive checks."""
import io

import pytest
from PIL import Image

from tests.test_verification_stage import _jpeg, letter_files  # noqa: F401 - a module-scoped fixture
from tests.test_verify import letter, rescan
from zeuge_lite import queries
from zeuge_lite.similarity.matches import GAP, match_picture
from zeuge_lite.similarity.verify import page_features
from zeuge_lite.tasks import huey


@pytest.fixture
def immediate():
    huey.immediate = True
    yield
    huey.immediate = False


def test_the_picture_puts_both_thumbnails_side_by_side_and_draws_the_matches():
    first = letter(1)
    copy = rescan(first)
    thumb_a, thumb_b = first.copy(), copy.copy()
    thumb_a.thumbnail((320, 320))
    thumb_b.thumbnail((320, 320))
    png, drawn, check = match_picture(thumb_a, thumb_b, page_features(first), page_features(copy), text=True)
    picture = Image.open(io.BytesIO(png))
    assert picture.format == "PNG" and picture.size == (thumb_a.width + GAP + thumb_b.width,
                                                       max(thumb_a.height, thumb_b.height))
    assert check.verified and drawn > 10
    plain = Image.new("RGB", picture.size, "white")
    plain.paste(thumb_a.convert("RGB"), (0, 0))
    plain.paste(thumb_b.convert("RGB"), (thumb_a.width + GAP, 0))
    gap = (thumb_a.width, 0, thumb_a.width + GAP, picture.height)
    assert picture.convert("RGB").crop(gap).getcolors() != plain.crop(gap).getcolors()  # lines cross the gap


def _ids(conn, batch):
    return {i["filename"]: i["id"] for i in queries.items_of_batch(conn, batch)}


def test_a_verified_pair_links_its_picture_from_the_card_and_others_get_none(
        client, conn, world, immediate, letter_files):  # noqa: F811
    archive, batch = world.own_batch("an@x.org")
    world.upload(batch, *letter_files.items())
    client.post(f"/batches/{batch}/similarity/run")
    ids = _ids(conn, batch)
    group = sorted(ids[n] for n in ("letter-1.png", "letter-1-rescan.jpg", "letter-1-turned.jpg"))
    card = client.get(f"/batches/{batch}/similarity/group/{'-'.join(map(str, group))}").data.decode()
    assert "/matches.png" in card and "side by side; lines join" in card
    url = card[card.index('class="matches"'):].split('<img src="')[1].split('"')[0]
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert Image.open(io.BytesIO(response.data)).width > 320
    a, b = sorted((ids["letter-1.png"], ids["letter-2.png"]))
    assert client.get(f"/batches/{batch}/similarity/group/{a}-{b}/matches.png").status_code == 404  # refused
    assert client.get(f"/batches/{batch}/similarity/group/{a}/matches.png").status_code == 404  # not a pair
    world.logout()
    world.own_batch("other@x.org")
    assert client.get(url).status_code == 404  # another archive's pair


def test_the_picture_needs_a_plan_with_similarity(client, conn, world):
    archive, batch = world.own_batch("free@x.org", plan="free")
    assert client.get(f"/batches/{batch}/similarity/group/1-2/matches.png").status_code == 402
