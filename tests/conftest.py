"""Fixtures in the style of Flask's tutorial: an app on a temporary database per test, client, auth, images."""
import io

import pytest
from PIL import Image

from zeuge_lite import create_app, queries
from zeuge_lite.auth import register_user
from zeuge_lite.db import connect, migrate

PASSWORD = "correct horse battery"
CHEAP_HASH = "pbkdf2:sha256:1000"  # tests check logic, not hash strength: scrypt would be half the run time


@pytest.fixture
def app(tmp_path):
    """An app with its own database and storage under tmp_path; CSRF off except where a test turns it on."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE": str(tmp_path / "test.sqlite3"),
                      "STORAGE_DIR": str(tmp_path / "storage"),
                      "MODEL_DIR": str(tmp_path / "models"),
                      "WTF_CSRF_ENABLED": False, "MAX_FILE_BYTES": 5 * 1024 * 1024,
                      "MAX_IMAGE_PIXELS": 40_000_000, "PASSWORD_HASH_METHOD": CHEAP_HASH})
    yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def conn(app):
    """A connection to the test database (the same file the app uses)."""
    connection = connect(app.config["DATABASE"])
    migrate(connection)
    yield connection
    connection.close()


class World:
    """Users, archives, batches and items made directly in the database for a test."""

    def __init__(self, conn, client):
        self.conn, self.client = conn, client

    def user(self, email, plan="pro", name="Tester"):
        """Register a user with their own archive on a plan; return (user_id, archive_id)."""
        with self.client.application.app_context():
            user_id = register_user(self.conn, email, name, PASSWORD, f"{email} archive", plan)
        return user_id, queries.archives_of_user(self.conn, user_id)[0]["id"]

    def login(self, email):
        return self.client.post("/login", data={"email": email, "password": PASSWORD})

    def logout(self):
        return self.client.post("/logout")

    def own_batch(self, email, plan="pro", name="Box 1"):
        """Register a user with an archive on a plan, log them in, make a batch; return (archive, batch)."""
        _user, archive = self.user(email, plan)
        self.login(email)
        return archive, self.batch(archive, name)

    def batch(self, archive_id, name="Box 1"):
        return queries.create_batch(self.conn, archive_id, name)

    def upload(self, batch_id, *files):
        """Post (filename, bytes) pairs to the upload endpoint; return the JSON results."""
        data = {"files": [(io.BytesIO(content), name) for name, content in files]}
        response = self.client.post(f"/batches/{batch_id}/upload", data=data,
                                    headers={"Accept": "application/json"}, content_type="multipart/form-data")
        assert response.status_code == 200, response.data
        return response.get_json()["results"]


@pytest.fixture
def world(conn, client):
    return World(conn, client)


def image_bytes(fmt="JPEG", size=(64, 48), color=(200, 30, 30), mode="RGB", **save_args):
    """A small real image encoded in a format, for upload tests."""
    image = Image.new(mode, size, color)
    if mode == "RGB":  # some structure, so thumbnails and hashes are not of a flat field
        for x in range(size[0] // 2):
            image.putpixel((x, size[1] // 2), (0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save_args)
    return buffer.getvalue()


@pytest.fixture
def make_image():
    return image_bytes
