"""WSGI entry point: `flask --app app run`, `gunicorn app:app`."""
from zeuge_lite import create_app

app = create_app()
