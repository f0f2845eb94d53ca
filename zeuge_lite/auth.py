"""Accounts: register, log in, log out (here or everywhere), change password; throttling and CSRF.

A login is a row in `sessions`: the cookie carries a random token (flask-login's alternative id), so logout,
"log out everywhere" and a password change revoke captured cookies too."""
import re
import string

from flask import (Blueprint, abort, current_app, flash, has_app_context, redirect, render_template, request,
                   session, url_for)
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_login.utils import login_url
from flask_wtf.csrf import CSRFProtect
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from zeuge_lite import queries
from zeuge_lite.admin import make_first_user_admin
from zeuge_lite.db import get_db, transaction
from zeuge_lite.sessions import open_session, token_hash
from zeuge_lite.views.errors import wants_json

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see that page."
csrf = CSRFProtect()
limiter = Limiter(get_remote_address, storage_uri="memory://", strategy="fixed-window")
MIN_PASSWORD_LENGTH = 12
MAX_NAME_LENGTH = 200
MIN_PASSWORD_SCORE = 3  # zxcvbn's 0..4: 3 is "safely unguessable" against online and throttled guessing
LOGIN_FAILED = "That e-mail address and password do not match an account."
SIGNED_OUT = ("You are logged out (the login ended, or you logged out in another tab). Log in again, then try "
              "again; nothing was changed.")
REGISTERED = ("If this e-mail address was new, your account and its archive are ready: log in with it. "
              "If it has an account already, log in with that account's password.")
_UNSAFE_NEXT_CHARS = set(string.whitespace) | {"\\"}


class User(UserMixin):
    """The logged-in user, as flask-login wants it; its id for flask-login is the login's token."""

    def __init__(self, row, token):
        self.id = row["id"]
        self.email = row["email"]
        self.name = row["name"]
        self.is_admin = bool(row["is_admin"])
        self.token = token

    def get_id(self):
        """The login token, not the user id: revoking the token ends the login."""
        return self.token


@login_manager.user_loader
def _load_user(token):
    row = queries.user_by_session(get_db(), token_hash(token))
    return User(row, token) if row else None


@login_manager.unauthorized_handler
def _logged_out():
    """A request that needs a login, without one: the uploader and htmx fragments hear why in their own form
    (a field being edited keeps what was typed; the login page is never swapped into a card), a page is
    redirected to the login."""
    if wants_json() or request.htmx:
        abort(401, description=SIGNED_OUT)
    flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(login_url(login_manager.login_view, next_url=request.url))


def register_user(conn, email, name, password, archive_name=None, plan="free"):
    """Create a user with an archive of their own (as owner); the instance's first user becomes its
    administrator. Return the user id."""
    with transaction(conn):
        user_id = queries.create_user(conn, email, name, hash_password(password))
        make_first_user_admin(conn, user_id)
        archive_id = queries.create_archive(conn, archive_name or f"{name}'s archive", plan)
        queries.add_member(conn, archive_id, user_id, "owner")
    return user_id


def hash_password(password):
    """A password hash with the configured method (scrypt; tests choose a cheap one)."""
    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt") if has_app_context() else "scrypt"
    return generate_password_hash(password, method=method)


def password_problem(password, email="", name=""):
    """Why a new password is refused (too short, or easy to guess), or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters."
    result = zxcvbn(password[:72], user_inputs=_personal_words(email, name))  # zxcvbn refuses longer ones
    if result["score"] < MIN_PASSWORD_SCORE:
        advice = result["feedback"].get("warning") or "It is too easy to guess."
        return f"Choose a harder password. {advice}".strip()
    return None


def _personal_words(email, name):
    """The user's own words, which make a password easy to guess for anyone who knows them."""
    words = re.split(r"[^\w]+", f"{email} {name}".lower())
    joined = [re.sub(r"[^\w]+", "", part.lower()) for part in (name, email.split("@")[0])]
    return ([email.lower(), name.lower(), "zeuge", "lite", "zeugelite", "archive", "zeugearchive"] + joined
            + [word for word in words if len(word) > 2])


def _registration_problem(email, name, password):
    if not email or "@" not in email or len(email) > 254:
        return "Enter a valid e-mail address."
    if not name:
        return "Enter your name."
    if len(name) > MAX_NAME_LENGTH:
        return f"Keep your name under {MAX_NAME_LENGTH} characters."
    return password_problem(password, email, name)


@bp.route("/register", methods=("GET", "POST"))
@limiter.limit(lambda: current_app.config["LOGIN_LIMITS"], methods=["POST"])
def register():
    """Create an account and its first archive; the answer never says whether the address had one."""
    if request.method == "POST":
        form = request.form
        email, name, password = form.get("email", "").strip(), form.get("name", "").strip(), form.get("password", "")
        problem = _registration_problem(email, name, password)
        if problem is not None:
            flash(problem, "error")
            return render_template("auth/register.html", email=email, name=name), 422
        conn = get_db()
        if queries.user_by_email(conn, email):
            hash_password(password)  # the same work as a new account, so timing tells nothing either
        else:
            register_user(conn, email, name, password)
        flash(REGISTERED)
        return redirect(url_for("auth.login", email=email))
    return render_template("auth/register.html")


def _account_key():
    return "account:" + request.form.get("email", "").strip().lower()


@bp.route("/login", methods=("GET", "POST"))
@limiter.limit(lambda: current_app.config["LOGIN_LIMITS"], methods=["POST"])
@limiter.limit(lambda: current_app.config["ACCOUNT_LOGIN_LIMITS"], methods=["POST"], key_func=_account_key)
def login():
    """Log in with e-mail and password."""
    if request.method == "POST":
        email = request.form.get("email", "").strip()
        conn = get_db()
        row = queries.user_by_email(conn, email)
        if _password_matches(row, request.form.get("password", "")):
            remember = bool(request.form.get("remember"))
            token = open_session(conn, row["id"], _login_lifetime_s())
            session.clear()  # a fresh session at login (no fixation of a pre-login cookie)
            login_user(User(row, token), remember=remember)
            return redirect(safe_next(request.args.get("next")), 303)
        flash(LOGIN_FAILED, "error")
        return render_template("auth/login.html", email=email), 401
    return render_template("auth/login.html", email=request.args.get("email", ""))


def _password_matches(row, password):
    """Check a password; an unknown e-mail costs the same time as a wrong password."""
    stored = row["password_hash"] if row else _dummy_hash()
    return check_password_hash(stored, password) and row is not None


def _dummy_hash():
    cache = current_app.extensions.setdefault("zeuge_dummy_hash", {})
    if "hash" not in cache:
        cache["hash"] = hash_password("not a password of anyone: equal timing for unknown e-mails")
    return cache["hash"]


def _login_lifetime_s():
    return int(current_app.config["LOGIN_DAYS"]) * 86400


def safe_next(target):
    """Only follow local paths after login: no other host, scheme, backslash, whitespace or control character."""
    home = url_for("archives.home")
    if not target or not target.startswith("/") or target.startswith("//"):
        return home
    if any(char in _UNSAFE_NEXT_CHARS or ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return home
    return target


@bp.route("/logout", methods=("POST",))
def logout():
    """Log out: this login's token is revoked, so a copy of the cookie stops working too."""
    if current_user.is_authenticated:
        queries.delete_session(get_db(), token_hash(current_user.token))
    logout_user()
    flash("You are logged out.")
    return redirect(url_for("auth.login"), 303)


@bp.route("/logout/everywhere", methods=("POST",))
@login_required
def logout_everywhere():
    """End every login of this user, on every device."""
    queries.delete_sessions_of_user(get_db(), current_user.id)
    logout_user()
    flash("You are logged out on every device.")
    return redirect(url_for("auth.login"), 303)


@bp.route("/account/password", methods=("GET", "POST"))
@login_required
@limiter.limit(lambda: current_app.config["LOGIN_LIMITS"], methods=["POST"])
def change_password():
    """Change the password after checking the current one; other logins of the user end."""
    if request.method == "POST":
        conn = get_db()
        row = queries.user_by_id(conn, current_user.id)
        new = request.form.get("new_password", "")
        problem = password_problem(new, row["email"], row["name"])
        if not check_password_hash(row["password_hash"], request.form.get("current_password", "")):
            flash("Your current password is not right.", "error")
        elif problem:
            flash(problem, "error")
        else:
            with transaction(conn):
                queries.set_password_hash(conn, current_user.id, hash_password(new))
                queries.delete_sessions_of_user(conn, current_user.id, keep_hash=token_hash(current_user.token))
            flash("Your password is changed. Other devices are logged out.")
            return redirect(url_for("archives.home"), 303)
        return render_template("auth/password.html"), 422
    return render_template("auth/password.html")


def _too_many(error):
    message = "Too many attempts. Wait a minute and try again."
    if wants_json():
        return {"error": message}, 429
    flash(message, "error")
    template = "auth/register.html" if request.endpoint == "auth.register" else "auth/login.html"
    return render_template(template, email=request.form.get("email", "")), 429


def init_app(app):
    """Wire flask-login, throttling, CSRF protection and the auth blueprint."""
    login_manager.init_app(app)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
    app.register_error_handler(429, _too_many)
    csrf.init_app(app)
    app.register_blueprint(bp)
