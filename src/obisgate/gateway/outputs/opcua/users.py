"""The OPC UA users file: one user per line with a scrypt hash of the password.

A line is ``NAME:scrypt$N$r$p$SALT$HASH`` (salt and hash in base64); blank
lines and lines starting with ``#`` are ignored. scrypt (RFC 7914) is in the
standard library (:func:`hashlib.scrypt`, OpenSSL), memory-hard, and costs
about 0.05 s per check with the parameters used here (N = 2^14, r = 8, p = 1,
the RFC's interactive-login example); no extra dependency. ``obisgate
opcua-user`` writes the lines; the file never holds a password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path

from obisgate.errors import ConfigError

__all__ = ["USER_NAME", "hash_password", "load_users", "save_user", "verify_password"]

#: What a user name may be: no ``:``, no blanks, no control characters.
USER_NAME = re.compile(r"[^\s:]{1,64}")
_N, _R, _P = 2**14, 8, 1
_SALT = 16
_LENGTH = 32
#: Most memory one check may use (N = 2^20, r = 8 would be 1 GiB: refused).
_MAX_MEMORY = 256 * 1024 * 1024


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    """The stored form ``scrypt$N$r$p$SALT$HASH`` of ``password`` with a fresh salt."""
    salt = secrets.token_bytes(_SALT)
    digest = _scrypt(password, salt, n, r, p, _LENGTH)
    return "$".join(("scrypt", str(n), str(r), str(p), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (compared in constant time).

    Raises:
        ValueError: ``stored`` is not ``scrypt$N$r$p$SALT$HASH``.
    """
    scheme, n, r, p, salt, digest = _parse(stored)
    del scheme
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(digest)), digest)


def _parse(stored: str) -> tuple[str, int, int, int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("expected scrypt$N$r$p$SALT$HASH")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = (
            base64.b64decode(parts[4], validate=True),
            base64.b64decode(parts[5], validate=True),
        )
    except ValueError:
        raise ValueError("expected scrypt$N$r$p$SALT$HASH (numbers, base64)") from None
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or 128 * n * r > _MAX_MEMORY or not digest:
        raise ValueError(f"scrypt parameters N={n} r={r} p={p} are not usable")
    return parts[0], n, r, p, salt, digest


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=_MAX_MEMORY + 2**20
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def load_users(path: Path) -> dict[str, str]:
    """User name -> stored hash, from the users file at ``path``.

    Raises:
        ConfigError: the file cannot be read, or a line is not ``NAME:HASH``
            (the message names the file and line, never a hash).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigError(f"[opcua] users_file {path}: {reason}") from None
    users: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, colon, stored = line.partition(":")
        if not colon or not USER_NAME.fullmatch(name):
            raise ConfigError(
                f"[opcua] users_file {path} line {number}: expected NAME:HASH "
                "(written by obisgate opcua-user)"
            )
        try:
            _parse(stored)
        except ValueError as exc:
            raise ConfigError(f"[opcua] users_file {path} line {number}: {exc}") from None
        if name in users:
            raise ConfigError(f"[opcua] users_file {path} line {number}: {name} is given twice")
        users[name] = stored
    return users


def save_user(path: Path, name: str, password: str | None) -> None:
    """Add or replace user ``name`` (``password`` ``None``: remove it), rewriting the file
    atomically with mode 0600.

    Raises:
        ConfigError: a bad user name, or the file cannot be read or written.
    """
    if not USER_NAME.fullmatch(name):
        raise ConfigError(f"user name {name!r}: 1-64 characters, no ':' and no blanks")
    users: Mapping[str, str] = load_users(path) if path.exists() else {}
    updated = {k: v for k, v in users.items() if k != name}
    if password is not None:
        updated[name] = hash_password(password)
    lines = ["# obisgate OPC UA users: NAME:scrypt$N$r$p$SALT$HASH (obisgate opcua-user)"]
    lines += [f"{user}:{stored}" for user, stored in updated.items()]
    folder = path.parent if str(path.parent) else Path()
    try:
        handle, temporary = tempfile.mkstemp(prefix=".users-", dir=folder)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write("\n".join(lines) + "\n")
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
