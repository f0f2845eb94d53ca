"""Small things pages get right: counts with their nouns, full file names where they are cut, an icon, and
SortableJS only where something can be dragged."""
from tests.conftest import image_bytes
from zeuge_lite.views import plural


def test_counts_read_as_words():
    assert (plural(1, "batch", "batches"), plural(3, "batch", "batches"), plural(0, "item")) == \
        ("1 batch", "3 batches", "0 items")


def test_cut_names_carry_the_whole_name_and_scripts_load_where_needed(client, world):
    archive, batch = world.own_batch("pages@x.org")
    long_name = "a-very-long-file-name-from-a-scanner-0001.png"
    world.upload(batch, (long_name, image_bytes("PNG")))
    grid = client.get(f"/batches/{batch}/items").data.decode()
    assert "1 item in batch order" in grid
    assert f'title="{long_name}"' in grid and "sortable-1.15.7.min.js" in grid
    assert "sortable" not in client.get(f"/archives/{archive}").data.decode()
    assert "sortable-1.15.7" not in client.get(f"/batches/{batch}/upload").data.decode()  # other tabs drag nothing
    assert 'rel="icon"' in grid and client.get("/static/favicon.svg").status_code == 200
    assert client.get("/favicon.ico").headers["Location"].endswith("/static/favicon.svg")
