"""WSGI entry point: `flask --app app run`, `waitress-serve app:app`; the worker is `huey_consumer app.huey`."""
from zeuge_lite import create_app

app = create_app()
huey = app.extensions["huey"]  # the worker: `huey_consumer app.huey` (configured by create_app, as the web is)
