"""Secrets and sessions: the signing key, cookie settings, revocable login tokens. Wired in the factory."""
import hashlib
import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path

from werkzeug.middleware.proxy_fix import ProxyFix

from zeuge_lite import queries

log = logging.getLogger(__name__)
KEY_FILE = "secret_key"
# Keys that were ever public (earlier defaults, the docs): a server signing with one is open to forged logins.
KNOWN_KEYS = {"dev-only-change-me", "change-me", "secret", "dev"}
MIN_KEY_LENGTH = 32


class InsecureSecretKey(RuntimeError):
    """The configured SECRET_KEY is a known or too short value."""


def resolve_secret_key(config, instance_path):
    """The configured key, or the one kept in instance/secret_key (made on first start, readable by us only)."""
    key = config.get("SECRET_KEY")
    key = str(key) if key is not None else None  # ZEUGE_SECRET_KEY=123… arrives as a number
    if key:
        if not config.get("TESTING") and (key in KNOWN_KEYS or len(key) < MIN_KEY_LENGTH):
            raise InsecureSecretKey(
                f"SECRET_KEY is a known or short value (fewer than {MIN_KEY_LENGTH} characters): anyone could "
                "forge a login. Unset it to have one generated into instance/secret_key, or set "
                "ZEUGE_SECRET_KEY to the output of `python -c 'import secrets; print(secrets.token_hex(32))'`.")
        return key
    key = _instance_key(Path(instance_path) / KEY_FILE)
    if len(key) < MIN_KEY_LENGTH or key in KNOWN_KEYS:
        raise InsecureSecretKey(f"instance/{KEY_FILE} holds a known or short key: delete it to have a new one made.")
    return key


def _instance_key(path):
    """Read the instance's key; on first start write a random one (atomically, so parallel starts agree)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}")
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # private from the first byte
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # fails if another process won the race: then its key is the key
            log.warning("No SECRET_KEY configured: generated one into %s (keep it with the instance; "
                        "set ZEUGE_SECRET_KEY to use your own).", path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


def cookie_settings(secure, remember_days):
    """Session and remember-me cookie flags: HttpOnly, SameSite=Lax, Secure when served over HTTPS."""
    return {"SESSION_COOKIE_HTTPONLY": True, "SESSION_COOKIE_SAMESITE": "Lax", "SESSION_COOKIE_SECURE": secure,
            "REMEMBER_COOKIE_HTTPONLY": True, "REMEMBER_COOKIE_SAMESITE": "Lax", "REMEMBER_COOKIE_SECURE": secure,
            "REMEMBER_COOKIE_DURATION": timedelta(days=remember_days),
            "PERMANENT_SESSION_LIFETIME": timedelta(days=remember_days)}


def token_hash(token):
    """What the database keeps of a login token (a leaked database gives no usable cookie)."""
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(conn, user_id, lifetime_s):
    """Start a revocable login for a user; return its token (what the cookie carries)."""
    token = secrets.token_urlsafe(32)
    queries.create_session(conn, token_hash(token), user_id, lifetime_s)
    return token


def init_app(app):
    """Signing key, cookie flags and (behind a reverse proxy) the client's address and scheme."""
    app.config["SECRET_KEY"] = resolve_secret_key(app.config, app.instance_path)
    app.config.update(cookie_settings(bool(app.config["COOKIE_SECURE"]), int(app.config["LOGIN_DAYS"])))
    proxies = int(app.config["TRUSTED_PROXIES"])
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
