"""Accounts: register, log in, log out, change password (flask-login, werkzeug hashes), CSRF."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from werkzeug.security import check_password_hash, generate_password_hash

from zeuge_lite import queries
from zeuge_lite.db import get_db, transaction

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see that page."
csrf = CSRFProtect()
MIN_PASSWORD_LENGTH = 8


class User(UserMixin):
    """The logged-in user, as flask-login wants it."""

    def __init__(self, row):
        self.id = row["id"]
        self.email = row["email"]
        self.name = row["name"]


@login_manager.user_loader
def _load_user(user_id):
    row = queries.user_by_id(get_db(), int(user_id))
    return User(row) if row else None


def register_user(conn, email, name, password, archive_name=None, plan="free"):
    """Create a user with an archive of their own (as owner); return the user id."""
    with transaction(conn):
        user_id = queries.create_user(conn, email, name, generate_password_hash(password))
        archive_id = queries.create_archive(conn, archive_name or f"{name}'s archive", plan)
        queries.add_member(conn, archive_id, user_id, "owner")
    return user_id


def _registration_problem(conn, email, name, password):
    if not email or "@" not in email:
        return "Enter a valid e-mail address."
    if not name:
        return "Enter your name."
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters."
    if queries.user_by_email(conn, email):
        return "An account with this e-mail address exists already. Log in instead."
    return None


@bp.route("/register", methods=("GET", "POST"))
def register():
    """Create an account and its first archive."""
    if request.method == "POST":
        form = request.form
        email, name, password = form.get("email", "").strip(), form.get("name", "").strip(), form.get("password", "")
        conn = get_db()
        problem = _registration_problem(conn, email, name, password)
        if problem is None:
            user_id = register_user(conn, email, name, password)
            login_user(User(queries.user_by_id(conn, user_id)))
            flash("Welcome to Zeuge Lite. Your archive is ready: create a first batch.")
            return redirect(url_for("archives.home"))
        flash(problem, "error")
        return render_template("auth/register.html", email=email, name=name), 422
    return render_template("auth/register.html")


@bp.route("/login", methods=("GET", "POST"))
def login():
    """Log in with e-mail and password."""
    if request.method == "POST":
        email = request.form.get("email", "").strip()
        row = queries.user_by_email(get_db(), email)
        if row and check_password_hash(row["password_hash"], request.form.get("password", "")):
            login_user(User(row), remember=bool(request.form.get("remember")))
            return redirect(_safe_next(request.args.get("next")))
        flash("That e-mail address and password do not match an account.", "error")
        return render_template("auth/login.html", email=email), 401
    return render_template("auth/login.html")


def _safe_next(target):
    """Only follow local redirect targets after login."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("archives.home")


@bp.route("/logout", methods=("POST",))
def logout():
    """Log out."""
    logout_user()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=("GET", "POST"))
@login_required
def change_password():
    """Change the logged-in user's password after checking the current one."""
    if request.method == "POST":
        conn = get_db()
        row = queries.user_by_id(conn, current_user.id)
        new = request.form.get("new_password", "")
        if not check_password_hash(row["password_hash"], request.form.get("current_password", "")):
            flash("Your current password is not right.", "error")
        elif len(new) < MIN_PASSWORD_LENGTH:
            flash(f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.", "error")
        else:
            queries.set_password_hash(conn, current_user.id, generate_password_hash(new))
            flash("Your password is changed.")
            return redirect(url_for("archives.home"))
        return render_template("auth/password.html"), 422
    return render_template("auth/password.html")


def init_app(app):
    """Wire flask-login, CSRF protection and the auth blueprint."""
    login_manager.init_app(app)
    csrf.init_app(app)
    app.register_blueprint(bp)
