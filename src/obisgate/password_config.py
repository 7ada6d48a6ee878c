"""Passwords from configuration: the password-file rule and password schemes by name.

The I/O side of :mod:`obisgate.protocol.passwords`, shared by the command line and the
gateway: :func:`read_password_file` (the first line of a file),
:func:`password_file_is_private` (whether a warning is due) and :func:`make_scheme`
(a scheme from its configured name; ``p2:MODULE:FUNCTION`` imports a Python module).
No message ever holds a password or a file's content.
"""

from __future__ import annotations

import importlib
import os
import stat
from pathlib import Path

from obisgate.errors import ConfigError
from obisgate.protocol.passwords import (
    ComputedPassword,
    ElsterPassword,
    NoPassword,
    PasswordScheme,
    PlainPassword,
    Secret,
)

__all__ = [
    "SCHEME_NAMES",
    "make_scheme",
    "password_file_is_private",
    "read_configured_password",
    "read_password_file",
]

SCHEME_NAMES = ("p1", "p2-elster", "none")
"""Names :func:`make_scheme` accepts, besides ``p2:MODULE:FUNCTION``."""


def read_password_file(path: str | os.PathLike[str]) -> str:
    """The password in ``path``: its first line, without the line end (one rule for CLI and gateway).

    Raises:
        ConfigError: the file cannot be read or is not UTF-8 (the message
            never holds its content).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the password file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError("the password file is not UTF-8 text") from None
    return text.splitlines()[0] if text else ""


def read_configured_password(
    label: str, password_env: str | None, password_file: str | os.PathLike[str] | None
) -> str | None:
    """A password from the variable named in ``password_env``, else from ``password_file``
    (:func:`read_password_file`), else ``None``; read now. One rule for the meters'
    programming passwords and the sections' (``[mqtt]``, ``[postgres]``) passwords.

    ``label`` starts each message: ``[mqtt]`` for a section, ``device ALIAS:`` for a meter.

    Raises:
        ConfigError: ``LABEL the variable named in password_env (NAME) is not set``,
            or ``LABEL password_file PATH: REASON`` (never the value).
    """
    if password_env is not None:
        value = os.environ.get(password_env)
        if value is None:
            raise ConfigError(
                f"{label} the variable named in password_env ({password_env}) is not set"
            )
        return value
    if password_file is not None:
        try:
            return read_password_file(password_file)
        except ConfigError as exc:
            raise ConfigError(f"{label} password_file {password_file}: {exc}") from None
    return None


def password_file_is_private(path: str | os.PathLike[str]) -> bool:
    """False when ``path`` exists and group or others may read it (a warning is due)."""
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return True
    return not mode & (stat.S_IRGRP | stat.S_IROTH)


def make_scheme(name: str, password: str | Secret | None) -> PasswordScheme:
    """Build a scheme by name.

    Names: ``p1`` (plain), ``p2-elster`` (also ``elster``), ``none``, and
    ``p2:MODULE:FUNCTION``: a challenge/response function importable from
    Python, called as ``FUNCTION(operand, password)`` and returning the P2 value.

    Raises:
        ConfigError: unknown name, a function that cannot be imported, or a
            scheme that needs a password got none.
    """
    key = name.strip()
    lower = key.lower()
    if lower == "none":
        return NoPassword()
    if password is None:
        raise ConfigError(f"password scheme {key!r} needs a password")
    secret = password if isinstance(password, Secret) else Secret(password)
    if lower == "p1":
        return PlainPassword(secret)
    if lower in ("p2-elster", "elster"):
        return ElsterPassword(secret)
    if lower.startswith("p2:"):
        return _plugin_scheme(key, secret)
    raise ConfigError(
        f"password scheme {name!r}: allowed {', '.join(SCHEME_NAMES)} or p2:MODULE:FUNCTION"
    )


def _plugin_scheme(name: str, secret: Secret) -> ComputedPassword:
    parts = name.split(":")
    module_name, func_name = (parts[1], parts[2]) if len(parts) == 3 else ("", "")
    if not module_name or not func_name:
        raise ConfigError(f"password scheme {name!r}: expected p2:MODULE:FUNCTION")
    try:
        module = importlib.import_module(module_name)
        func = getattr(module, func_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"password scheme {name!r}: cannot import it ({exc})") from None
    if not callable(func):
        raise ConfigError(f"password scheme {name!r}: {func_name} is not callable")

    def compute(operand: str) -> str:
        return str(func(operand, secret.reveal()))

    return ComputedPassword(compute, name=f"p2:{module_name}:{func_name}", known_secrets=(secret,))
