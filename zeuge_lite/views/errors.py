"""Error answers: a small fragment for htmx requests (shown in place or as a page message), {"error": message}
for JSON clients (the uploader), a page otherwise; never the framework's own error page inside a card."""
from flask import jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from htmx_flask import Htmx
from werkzeug.exceptions import HTTPException, InternalServerError

# What a person reads for each status when the code gave no better description.
PLAIN = {400: "The request could not be understood. Reload the page and try again.",
         403: "You may not do this here.",
         404: "This is not here (any more): it was deleted, moved, or is not yours to see.",
         405: "This cannot be done that way.",
         409: "This changed in another window or tab. Reload the page to see it as it is now.",
         413: "That is larger than the server accepts.",
         422: "That could not be done as asked.",
         500: "Something went wrong on the server. Nothing was changed; try again, or tell the administrator."}
# A refused CSRF token is nearly always a page left open past its session or token lifetime.
STALE_PAGE = "This page is out of date (it was open a long time, or you logged in again). Reload it and try again; " \
    "nothing was changed."


def wants_json():
    """Whether the client asked for JSON (the uploader's requests), not a page or a fragment."""
    return request.accept_mimetypes.best == "application/json"


def _message(error):
    if isinstance(error, CSRFError):
        return STALE_PAGE
    default = type(error).description  # werkzeug's generic text unless the code passed its own
    return error.description if error.description and error.description != default else \
        PLAIN.get(error.code, error.name)


def error_response(error):
    """The fragment (htmx), JSON ({"error": message}) or page for an HTTP error, with its status."""
    if error.code is None or error.code < 400:
        return error
    if isinstance(error, InternalServerError):
        message = PLAIN[500]
    else:
        message = _message(error)
    if wants_json():
        return jsonify(error=message), error.code
    template = "_error.html" if request.htmx else "error.html"
    return render_template(template, code=error.code, title=error.name, message=message), error.code


def _vary_on_htmx(response):
    response.vary.add("HX-Request")  # the same URL answers a fragment to htmx and a page otherwise
    return response


def init_app(app):
    """request.htmx (htmx-flask) and the error answers for every status from 400 on."""
    Htmx(app)
    app.register_error_handler(HTTPException, error_response)
    app.after_request(_vary_on_htmx)
