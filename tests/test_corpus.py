"""The corpus (tests/corpus, see its README): one expectation per file, through the upload path and the scan."""
import json
from pathlib import Path

import pytest

from zeuge_lite import queries
from zeuge_lite.metadata import embedded

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = json.loads((CORPUS / "EXPECTED.json").read_text())
FILES = sorted(p.name for p in CORPUS.iterdir() if p.name not in ("EXPECTED.json", "README.md"))


def test_every_corpus_file_has_an_expectation():
    assert FILES == sorted(EXPECTED)


@pytest.fixture(scope="module")
def uploaded(tmp_path_factory):
    """Every corpus file uploaded, one request each as the browser sends them (sidecars last)."""
    from tests.conftest import CHEAP_HASH, World
    from zeuge_lite import create_app
    from zeuge_lite.db import connect, migrate
    tmp = tmp_path_factory.mktemp("corpus")
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp / "db.sqlite3"),
                      "STORAGE_DIR": str(tmp / "storage"), "MODEL_DIR": str(tmp / "models"),
                      "WTF_CSRF_ENABLED": False, "PASSWORD_HASH_METHOD": CHEAP_HASH})
    conn = connect(app.config["DATABASE"])
    migrate(conn)
    world = World(conn, app.test_client())
    _user, archive = world.user("corpus@x.org")
    world.login("corpus@x.org")
    batch = world.batch(archive)
    results = {}
    for name in sorted(FILES, key=lambda n: n.endswith(".xmp")):
        results[name], = world.upload(batch, (name, (CORPUS / name).read_bytes()))
    items = {row["filename"]: dict(row) for row in queries.items_of_batch(conn, batch)}
    yield results, items
    conn.close()


@pytest.mark.parametrize("name", FILES)
def test_upload(uploaded, name):
    results, items = uploaded
    expected, result = EXPECTED[name], results[name]
    assert result["status"] == expected["status"], result["message"]
    if "message" in expected:
        assert expected["message"] in result["message"]
    if expected["status"] != "added":
        assert name not in items
        return
    item = items[name]
    fields = embedded.of_item(item)[0]
    for key in ("width", "height", "frames", "orientation"):
        if key in expected:
            assert item[key] == expected[key], key
    assert bool(item["plain"]) == expected.get("plain", False)
    for key in ("taken_at", "camera", "keywords", "title", "dpi", "software"):
        assert fields.get(key) == expected.get(key), key


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    from zeuge_lite import create_app
    tmp = tmp_path_factory.mktemp("corpus-scan")
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp / "db.sqlite3"),
                      "STORAGE_DIR": str(tmp / "storage"), "MODEL_DIR": str(tmp / "models")})
    result = app.test_cli_runner().invoke(args=["zeuge", "scan", str(CORPUS), "--out", str(tmp / "out"),
                                                "--workers", "1"])
    assert result.exit_code == 0, result.output
    return json.loads((tmp / "out" / "duplicates.json").read_text())


@pytest.mark.parametrize("name", FILES)
def test_scan(scanned, name):
    expected = EXPECTED[name]
    skipped = {s["path"]: s["reason"] for s in scanned["skipped"]}
    if "scan" in expected or expected["status"] != "added":
        assert skipped[name].startswith(expected.get("scan", "unreadable")), skipped.get(name)
        return
    assert name not in skipped
    assert (name in scanned["plain"]) == expected.get("plain", False)
    for group in scanned["groups"]:
        for item in group["items"]:
            if item["path"] == name:
                assert (item["width"], item["height"]) == (expected["width"], expected["height"])
