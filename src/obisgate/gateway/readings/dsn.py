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


def describe_failure(exc: BaseException, dsn: str = "", password: str | None = None) -> str:
    """A one-line reason for a failed connection or query, without secrets.

    ``password`` and the password of ``dsn`` (when it is a URL with one) are cut out
    of the text, in case a driver message ever quotes them.
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
        in_dsn = urlsplit(dsn).password
    except ValueError:
        in_dsn = None
    for secret in (password, in_dsn):
        if secret:
            text = text.replace(secret, "***")
    return text[:200]
