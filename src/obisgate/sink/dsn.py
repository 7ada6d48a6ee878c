"""Describe a PostgreSQL DSN or connection failure without its password."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["describe_dsn", "describe_failure"]


def describe_dsn(dsn: str) -> str:
    """``user@host:port/database`` of a ``postgresql://`` URL (never the password).

    A DSN that is not a URL (``key=value`` pairs) is described as ``the database``:
    it may hold ``password=`` anywhere.
    """
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "the database"
    if parts.scheme not in ("postgres", "postgresql"):
        return "the database"
    user = f"{parts.username}@" if parts.username else ""
    return f"{user}{host}:{port}{parts.path or '/'}"


def describe_failure(exc: BaseException, dsn: str = "") -> str:
    """A one-line reason for a failed connection or query, without secrets.

    The password of ``dsn`` (when it is a URL with one) is cut out of the text, in
    case a driver message ever quotes it.
    """
    name = type(exc).__name__
    if name == "InvalidPasswordError":
        return "password authentication failed"
    if isinstance(exc, ConnectionRefusedError) or "Connect call failed" in str(exc):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "no answer (timeout)"
    text = str(exc).splitlines()[0] if str(exc) else name
    try:
        password = urlsplit(dsn).password
    except ValueError:
        password = None
    if password:
        text = text.replace(password, "***")
    return text[:200]
