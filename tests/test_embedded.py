"""Embedded metadata: read once at upload with exiv2, shown on the item page apart from the archival fields,
filling empty archival fields (a batch setting), XMP sidecars applied to their photo."""
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from zeuge_lite import queries
from zeuge_lite.demo import PHOTOS_DIR
from zeuge_lite.tasks import huey
from zeuge_lite.metadata import embedded
from zeuge_lite.metadata.embedded import camera, embedded_metadata, file_metadata, read_blocks, sidecar_metadata

CORPUS = Path(__file__).parent / "corpus"


@pytest.mark.parametrize("make, model, shown", [
    ("Canon", "Canon EOS R5", "Canon EOS R5"), ("PENTAX Corporation", "PENTAX K10D", "PENTAX K10D"),
    ("NIKON CORPORATION", "NIKON D70", "NIKON D70"), ("Apple", "iPhone 12", "Apple iPhone 12"),
    ("FUJIFILM", "X-T4", "FUJIFILM X-T4"), ("", "X-T4", "X-T4"), ("EPSON", "", "EPSON"), (None, None, None)])
def test_camera_is_the_model_with_the_make_only_where_the_model_lacks_it(make, model, shown):
    assert camera(make, model) == shown


def test_date_taken_comes_from_exif_else_xmp_else_iptc_with_its_offset():
    both = {"Exif.Photo.DateTimeOriginal": "2021:06:05 14:03:02", "Exif.Photo.OffsetTimeOriginal": "+02:00",
            "Xmp.photoshop.DateCreated": "1999-01-01T00:00:00Z", "Iptc.Application2.DateCreated": "1980-01-01"}
    assert embedded_metadata(both)["taken_at"] == "2021-06-05 14:03:02+02:00"
    xmp = {k: v for k, v in both.items() if not k.startswith("Exif.")}
    assert {k: embedded_metadata(xmp)[k] for k in ("taken_at", "taken_from")} == \
        {"taken_at": "1999-01-01 00:00:00+00:00", "taken_from": "XMP"}
    iptc = {"Iptc.Application2.DateCreated": "1980-01-01", "Iptc.Application2.TimeCreated": "12:30:00-05:00"}
    assert embedded_metadata(iptc)["taken_at"] == "1980-01-01 12:30:00-05:00"
    assert embedded_metadata({"Exif.Photo.DateTimeOriginal": "0000:00:00 00:00:00"}) == {}
    assert embedded_metadata({"Xmp.photoshop.DateCreated": "1921"})["taken_at"] == "1921"


def test_gps_resolution_keywords_and_rating():
    tags = {"Exif.GPSInfo.GPSLatitude": "33/1 51/1 5400/100", "Exif.GPSInfo.GPSLatitudeRef": "S",
            "Exif.GPSInfo.GPSLongitude": "151/1 12/1 0/1", "Exif.GPSInfo.GPSLongitudeRef": "E",
            "Exif.Image.XResolution": "1200/1", "Exif.Image.ResolutionUnit": "3",
            "Xmp.dc.subject": ["Boats", "harbour"], "Iptc.Application2.Keywords": ["boats", "sea"],
            "Xmp.lr.hierarchicalSubject": ["Places|Sydney"], "Xmp.xmp.Rating": "0"}
    found = embedded_metadata(tags)
    assert found["gps"] == "-33.865000, 151.200000" and found["dpi"] == 3048
    assert found["keywords"] == ["Boats", "harbour", "sea", "Sydney"] and "rating" not in found
    assert embedded_metadata({"Xmp.exif.GPSLatitude": "52,30.6N", "Xmp.exif.GPSLongitude": "13,24W"})["gps"] \
        == "52.510000, -13.400000"


def test_damaged_or_missing_metadata_is_no_metadata_never_an_error():
    assert file_metadata(b"") == {} and file_metadata(b"\xff\xd8\xff\xe1\x00\x10Exif\0\0garbage") == {}
    assert read_blocks(b"Exif\0\0MM\0*broken", b"<x:xmpmeta") == {}
    assert sidecar_metadata(b"plain text") is None
    assert embedded_metadata({"Exif.Image.XResolution": "1/0", "Exif.GPSInfo.GPSLatitude": "x"}) == {}


def test_numbers_that_are_not_finite_are_no_figures():
    assert embedded_metadata({"Xmp.xmp.Rating": "inf", "Xmp.tiff.XResolution": "1e400", "Xmp.tiff.ResolutionUnit":
                              "2"}) == {}
    assert embedded_metadata({"Exif.Image.Rating": "nan", "Exif.Image.XResolution": "inf/1"}) == {}
    assert embedded_metadata({"Xmp.xmp.Rating": "4"})["rating"] == 4


def test_an_infinite_rating_in_a_files_xmp_neither_refuses_it_nor_stops_the_upload(world, batch, conn):
    """Rating "inf" raised OverflowError, which the app answers as 404: the whole post was lost after it."""
    photo = Image.open(PHOTOS_DIR / "kodak-kodim05.png").convert("RGB").resize((192, 128))
    buffer = io.BytesIO()
    rating = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              b'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="inf"/>'
              b'</rdf:RDF></x:xmpmeta>')
    photo.save(buffer, "JPEG", quality=80, xmp=rating)
    other = io.BytesIO()
    photo.rotate(90, expand=True).save(other, "PNG")
    results = world.upload(batch, ("rated.jpg", buffer.getvalue()), ("after.png", other.getvalue()))
    assert [r["status"] for r in results] == ["added", "added"], results
    assert "rating" not in json.loads(dict(queries.items_of_batch(conn, batch)[0])["embedded"])


def test_sidecar_dates_keep_their_offset():
    fields = sidecar_metadata((CORPUS / "lightroom.xmp").read_bytes())
    assert fields["taken_at"] == "2015-01-20 08:15:00+01:00" and fields["keywords"] == ["Farm", "Winter"]


def test_fills_only_empty_fields_or_an_earlier_fill():
    fields = {"title": "Harbour", "caption": "Boats", "keywords": ["a", "b"], "taken_at": "2021-06-05 14:03:02"}
    assert embedded.fills(fields, {"title": ""}, {}) == {"title": "Harbour", "description": "Boats",
                                                         "subject": "a; b", "date": "2021-06-05"}
    assert "title" not in embedded.fills(fields, {"title": "Mine"}, {"title": "Old"})
    assert embedded.fills(fields, {"title": "Old"}, {"title": "Old"})["title"] == "Harbour"


@pytest.fixture
def batch(world):
    _user, archive = world.user("meta@x.org")
    world.login("meta@x.org")
    return world.batch(archive)


def _corpus(*names):
    return [(name, (CORPUS / name).read_bytes()) for name in names]


def test_upload_stores_embedded_metadata_and_fills_empty_archival_fields(world, batch, conn):
    result, = world.upload(batch, *_corpus("canon-r5.jpg"))
    item = dict(queries.items_of_batch(conn, batch)[0])
    stored = json.loads(item["embedded"])
    assert stored["camera"] == item["camera"] == "Canon EOS R5" and stored["lens"] == "RF24-105mm F4 L IS USM"
    assert item["taken_at"] == "2021-06-05 14:03:02+02:00"
    assert (item["title"], item["description"], item["creator"], item["subject"], item["date"]) == \
        ("Harbour at noon", "Boats in the harbour", "Ann Example", "boats; harbour", "2021-06-05")
    page = world.client.get(f"/items/{result['item_id']}").get_data(as_text=True)
    assert "Embedded metadata" in page and "RF24-105mm F4 L IS USM" in page and "52.516000, 13.377000" in page
    assert page.count("taken from the file") == 6


def test_the_batch_setting_turns_filling_off(world, batch, conn):
    response = world.client.post(f"/batches/{batch}/fill-from-file", data={"fill_from_file": "0"})
    assert response.status_code == 302 and not queries.batch_fill_from_file(conn, batch)
    world.upload(batch, *_corpus("canon-r5.jpg"))
    item = queries.items_of_batch(conn, batch)[0]
    assert item["title"] == "" and json.loads(item["embedded"])["title"] == "Harbour at noon"
    assert "Fill them from the files" in world.client.get(f"/batches/{batch}/upload").get_data(as_text=True)


def test_an_xmp_sidecar_is_applied_to_its_photo_even_when_sent_first(world, batch, conn):
    results = world.upload(batch, *_corpus("lightroom.xmp", "lightroom.jpg"))
    by_name = {r["filename"]: r for r in results}
    assert by_name["lightroom.jpg"]["status"] == "added"
    assert by_name["lightroom.xmp"]["status"] == "applied" and "lightroom.jpg" in by_name["lightroom.xmp"]["message"]
    item = dict(queries.items_of_batch(conn, batch)[0])
    assert (item["title"], item["subject"], item["date"]) == ("Barn in winter", "Farm; Winter", "2015-01-20")
    page = world.client.get(f"/items/{item['id']}").get_data(as_text=True)
    assert "(XMP sidecar)" in page and "2015-01-20 08:15:00+01:00" in page


def test_a_sidecar_without_its_photo_or_without_xmp_is_refused_with_a_reason(world, batch):
    lonely, = world.upload(batch, ("IMG_0001.xmp", (CORPUS / "lightroom.xmp").read_bytes()))
    assert lonely["status"] == "refused" and "No photo named “IMG_0001”" in lonely["message"]
    world.upload(batch, *_corpus("lightroom.jpg"))
    fake, = world.upload(batch, ("lightroom.jpg.xmp", b"just text"))
    assert fake["status"] == "refused" and "not an XMP sidecar" in fake["message"]


def test_typed_fields_are_never_overwritten_by_a_sidecar(world, batch, conn):
    world.upload(batch, *_corpus("lightroom.jpg"))
    item = queries.items_of_batch(conn, batch)[0]
    queries.update_item_fields(conn, item["id"], {"title": "Typed by the archivist"})
    conn.commit()
    world.upload(batch, *_corpus("lightroom.xmp"))
    item = queries.items_of_batch(conn, batch)[0]
    assert item["title"] == "Typed by the archivist" and item["subject"] == "Farm; Winter"


def _xmp(caption):
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
            f'<rdf:li xml:lang="x-default">{caption}</rdf:li></rdf:Alt></dc:description></rdf:Description>'
            '</rdf:RDF></x:xmpmeta>').encode()


def _tagged_jpeg(image, make, model, taken, caption):
    exif = Image.Exif()
    exif.update({0x010F: make, 0x0110: model})
    exif.get_ifd(0x8769).update({0x9003: taken})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80, exif=exif.tobytes(), xmp=_xmp(caption))
    return buffer.getvalue()


@pytest.fixture
def group(world, client, conn):
    """An analysed batch with one group of three copies whose files say different things."""
    huey.immediate = True
    archive, batch = world.own_batch("cmp@x.org")
    photo = Image.open(PHOTOS_DIR / "kodak-kodim05.png").convert("RGB")
    world.upload(batch, ("master.png", (PHOTOS_DIR / "kodak-kodim05.png").read_bytes()),
                 ("canon.jpg", _tagged_jpeg(photo.resize((576, 384)), "Canon", "Canon EOS R5",
                                            "2021:06:05 14:03:02", "Race day")),
                 ("nikon.jpg", _tagged_jpeg(photo.resize((384, 256)), "NIKON CORPORATION", "NIKON D70",
                                            "2004:08:01 12:00:00", "Motor race, 1955")),
                 ("coffee.png", (PHOTOS_DIR / "skimage-coffee.png").read_bytes()))
    client.post(f"/batches/{batch}/similarity/run")
    ids = {i["filename"]: i["id"] for i in queries.items_of_batch(conn, batch)}
    yield batch, ids, "-".join(str(ids[n]) for n in sorted(("master.png", "canon.jpg", "nikon.jpg"),
                                                              key=ids.get))
    huey.immediate = False


def test_compare_shows_embedded_values_marks_differences_and_copies_them_to_the_keeper(client, conn, group):
    batch, ids, key = group
    table = client.get(f"/batches/{batch}/similarity/group/{key}/compare").get_data(as_text=True)
    for label in ("Date taken (in the file)", "Camera (in the file)", "Caption (in the file)"):
        row = table[table.index(label) - 60:table.index(label)]
        assert 'class="differs"' in row, label
    assert "NIKON D70" in table and "Canon EOS R5" in table
    response = client.post(f"/batches/{batch}/similarity/group/{key}/copy",
                           data={"field": "embedded:caption", "source": ids["nikon.jpg"],
                                 "target": ids["master.png"]})
    assert response.status_code == 200
    master = conn.execute("SELECT description FROM items WHERE id = ?", (ids["master.png"],)).fetchone()[0]
    assert master == "Motor race, 1955"
    camera = client.post(f"/batches/{batch}/similarity/group/{key}/copy",
                         data={"field": "embedded:camera", "source": ids["nikon.jpg"], "target": ids["master.png"]})
    assert camera.status_code == 422


def test_metadata_tab_shows_the_files_values_beside_the_archival_ones(client, conn, group):
    batch, ids, _key = group
    client.post(f"/items/{ids['canon.jpg']}/metadata", data={"description": "typed by hand"})
    tab = client.get(f"/batches/{batch}/metadata").get_data(as_text=True)
    assert "in the file: Race day" in tab and "Camera: Canon EOS R5" in tab and "Date taken: 2004-08-01" in tab
    assert 'value="2021-06-05"' in tab  # the empty Date was filled from the file


def test_copying_an_embedded_value_over_a_typed_one_asks_first(client, conn, group):
    batch, ids, key = group
    client.post(f"/items/{ids['master.png']}/metadata", data={"description": "typed by hand"})
    ask = client.post(f"/batches/{batch}/similarity/group/{key}/copy",
                      data={"field": "embedded:caption", "source": ids["nikon.jpg"], "target": ids["master.png"]})
    assert ask.status_code == 200 and "typed by hand" in ask.get_data(as_text=True)
    client.post(f"/batches/{batch}/similarity/group/{key}/copy",
                data={"field": "embedded:caption", "source": ids["nikon.jpg"], "target": ids["master.png"],
                      "mode": "append"})
    master = conn.execute("SELECT description FROM items WHERE id = ?", (ids["master.png"],)).fetchone()[0]
    assert master == "typed by hand; Motor race, 1955"
