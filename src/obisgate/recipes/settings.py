"""``[[devices]]``-style settings applied to the reader's options and line settings.

Recipes, ``obisgate probe``'s attempts and the configuration all speak in
device field names (``t2``, ``baud_change_delay_ms``, ``software_parity`` ...);
:func:`apply_settings` turns such settings into
:class:`~obisgate.protocol.client.ReadoutOptions` and
:class:`~obisgate.transport.base.LineSettings` for one readout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from obisgate.protocol.bcc import BccMethod
from obisgate.protocol.client import ReadoutOptions
from obisgate.protocol.identification import ProtocolMode
from obisgate.transport.base import LineSettings

__all__ = ["apply_settings"]

_SAME = frozenset(
    {"switch_baud", "max_baud", "force_baud", "verify_bcc", "repeat_requests", "strip_echo"}
)
_SECONDS = {
    "t2": "reaction_time_s",
    "baud_change_delay_ms": "baud_change_delay_s",
    "timeout_ms": "response_timeout_s",
    "inter_byte_timeout_ms": "inter_byte_timeout_s",
    "wakeup_delay_ms": "wakeup_delay_s",
}
_LINE = {"databits": "bytesize", "parity": "parity", "software_parity": "software_parity"}


def apply_settings(
    options: ReadoutOptions, line: LineSettings, settings: Mapping[str, object]
) -> tuple[ReadoutOptions, LineSettings, dict[str, object]]:
    """``options`` and ``line`` with ``settings`` (device field names) applied.

    Returns:
        The new options, the new line settings, and the settings that are no
        part of one readout (``total_timeout_ms``, ``decimal_comma``,
        ``read_command``), left for the caller.

    Raises:
        ConfigError: a value the options or line settings refuse.
    """
    changes: dict[str, object] = {}
    line_changes: dict[str, object] = {}
    rest: dict[str, object] = {}
    for name, value in settings.items():
        if name in _SAME:
            changes[name] = value
        elif name in _SECONDS:
            changes[_SECONDS[name]] = int(value) / 1000  # type: ignore[call-overload]
        elif name in _LINE:
            line_changes[_LINE[name]] = value
        elif name == "type":
            changes["mode"] = ProtocolMode(str(value))
        elif name == "bcc_method":
            changes["bcc_method"] = BccMethod(str(value))
        elif name == "wakeup":
            changes["wakeup_nuls"] = value
        elif name == "request_start":
            changes["request_start"] = value
        elif name == "baudrate":
            changes["initial_baud"] = value
        else:
            rest[name] = value
    if changes:
        options = dataclasses.replace(options, **changes)  # type: ignore[arg-type]
    if "baudrate" in settings or "type" in settings:
        line_changes["baudrate"] = options.start_baud
    if line_changes:
        line = dataclasses.replace(line, **line_changes)  # type: ignore[arg-type]
    return options, line, rest
