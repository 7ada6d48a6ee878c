"""``obisgate read --mode E`` and ``--mode HDLC``: DLMS/COSEM meters, shaped like a D0 readout.

The options of :func:`dlms_options` (addresses, LLS password, objects) are
shared by ``read``, ``profile`` and ``init``. Their values are checked where
they are parsed, and a bad one is a usage error naming the option.
"""

from __future__ import annotations

import os
from typing import Any

import click

from obisgate.cli.params import Bounded
from obisgate.dlms.client import DlmsOptions, FrameLog
from obisgate.dlms.reading import ObjectSpec, parse_object_specs
from obisgate.errors import ConfigError
from obisgate.password_config import password_file_is_private, read_password_file

__all__ = [
    "dlms_address_options",
    "dlms_options",
    "dlms_settings",
    "format_frames",
    "object_specs",
]

_READABLE_FILE_WARNING = (
    "obisgate: warning: the password file is readable by group or others; chmod 600 it"
)


def dlms_address_options(fn: Any) -> Any:
    """The HDLC addresses of a mode E or direct HDLC meter (``read``, ``profile``, ``init``)."""
    for option in reversed(_ADDRESS_OPTIONS):
        fn = option(fn)
    return fn


def dlms_options(fn: Any) -> Any:
    """Options of ``read`` and ``init`` for a mode E or direct HDLC meter: addresses,
    LLS password, objects."""
    for option in reversed([*_ADDRESS_OPTIONS, *_READ_OPTIONS]):
        fn = option(fn)
    return fn


_ADDRESS_OPTIONS = [
    click.option(
        "--dlms-client",
        type=Bounded(0, 127),
        default=16,
        show_default=True,
        help="Mode E/HDLC: client address (16 public client; 1 management, with LLS).",
    ),
    click.option(
        "--dlms-logical",
        type=Bounded(0, 16383),
        default=1,
        show_default=True,
        help="Mode E/HDLC: the meter's logical device (upper HDLC address).",
    ),
    click.option(
        "--dlms-physical",
        type=Bounded(0, 16383),
        default=17,
        show_default=True,
        help="Mode E/HDLC: the meter's physical device (lower HDLC address).",
    ),
]
_READ_OPTIONS = [
    click.option(
        "--password-env",
        metavar="VAR",
        default=None,
        help="Mode E/HDLC: the LLS password from environment variable VAR.",
    ),
    click.option(
        "--password-file",
        type=click.Path(dir_okay=False, exists=True, readable=True),
        default=None,
        help="Mode E/HDLC: the LLS password from the first line of FILE.",
    ),
    click.option(
        "--objects",
        default=None,
        metavar="LIST",
        help=(
            "Mode E/HDLC: read only these objects, e.g. 1-0:1.8.0*255,1-0:32.7.0*255 "
            "(CODE[@CLASS][/ATTRIBUTE]); default: every value object the meter lists."
        ),
    ),
]


def _password(params: dict[str, Any]) -> bytes | None:
    """The LLS password from ``--password-env`` or ``--password-file``.

    Raises:
        ConfigError: both given, an unset variable, an unreadable file (never the password).
    """
    env, path = params.get("password_env"), params.get("password_file")
    if env and path:
        raise ConfigError("give only one of --password-env, --password-file")
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"environment variable {env} is not set")
        return value.encode("latin-1", "replace")
    if path:
        if not password_file_is_private(path):
            click.echo(_READABLE_FILE_WARNING, err=True)
        return read_password_file(path).encode("latin-1", "replace")
    return None


def dlms_settings(
    params: dict[str, Any], response_timeout_s: float, password: bytes | None = None
) -> DlmsOptions:
    """The DLMS options of the command line (``password`` given: not read from the options).

    Raises:
        ConfigError: a bad value or password source.
    """
    return DlmsOptions(
        client=params["dlms_client"],
        logical=params["dlms_logical"],
        physical=params["dlms_physical"],
        password=password if password is not None else _password(params),
        response_timeout_s=max(response_timeout_s, 1.0),
    )


def object_specs(params: dict[str, Any]) -> list[ObjectSpec] | None:
    """``--objects`` parsed, or ``None`` (read everything).

    Raises:
        ConfigError: a code that does not parse.
    """
    text = params.get("objects")
    return None if text is None else parse_object_specs(text)


def format_frames(frames: tuple[FrameLog, ...] | list[FrameLog]) -> str:
    """One line per HDLC frame: direction, hex bytes, what it is (``--format raw``)."""
    return "".join(f"{f.direction} {f.data.hex(' ').upper()}  ({f.text})\n" for f in frames)
