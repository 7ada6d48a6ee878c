"""The web view's page (``GET /``), rendered on the server from the live state.

The template ``web/page.html`` gets one row per device, per output (its
:class:`~obisgate.gateway.outputs.health.OutputHealth`, the same for every
output) and per signal, and one history choice per logged signal;
``web/static/view.js`` then keeps the device and signal rows current from
``/api/events`` and the output rows from ``/api/gateway``. Every text from the
configuration, a meter or an output is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache, lru_cache
from html import escape
from pathlib import Path
from string import Template

from obisgate import Identification
from obisgate.errors import FramingError
from obisgate.gateway.outputs.health import OutputHealth, OutputState
from obisgate.gateway.outputs.http.state import DeviceView, LiveState, SignalInfo, update_json
from obisgate.gateway.updates import SignalUpdate
from obisgate.obis import describe

__all__ = ["WEB_DIR", "render_page", "signal_title"]

#: The page template and, under ``static/``, the files served at ``/static/``.
WEB_DIR = Path(__file__).with_name("web")


@cache
def _template() -> Template:
    return Template((WEB_DIR / "page.html").read_text(encoding="utf-8"))


def _attr(text: str) -> str:
    return escape(text, quote=True)


def _time_cell(name: str, time: datetime | None) -> str:
    if time is None:
        return f'<td class="{name}"></td>'
    iso = time.isoformat(timespec="seconds")
    return f'<td class="{name}" data-time="{_attr(iso)}">{escape(iso)}</td>'


def _device_row(view: DeviceView) -> str:
    state = {True: "ok", False: "down", None: "pending"}[view.up]
    error = ""
    if view.last_error is not None and view.last_error_time is not None:
        error = f"{view.last_error} ({view.last_error_time.isoformat(timespec='seconds')})"
    return (
        f'<tr data-device="{_attr(view.alias)}" data-state="{state}">'
        f'<td class="device">{escape(view.alias)}</td>'
        f'<td class="name">{escape(view.name)}</td>'
        f'<td class="status"><span class="badge {state}">{"…" if view.up is None else state}'
        f"</span>{'' if view.status == 'ok' else escape(view.status)}</td>"
        f"{_time_cell('since', view.since)}"
        f"{_time_cell('last-success', view.last_success)}"
        f'<td class="last-error">{escape(error)}</td>'
        f'<td class="failures">{view.failures}</td></tr>'
    )


#: The badge of each output state: ok (running), pending (on its way) or down.
_OUTPUT_BADGE = {
    OutputState.RUNNING: "ok",
    OutputState.STARTING: "pending",
    OutputState.CONNECTING: "pending",
    OutputState.CLOSED: "pending",
}


def _counters_text(counters: Mapping[str, int | float]) -> str:
    """``outbox_depth 0 · sent_total 12``: an output's counters in one line."""
    return " · ".join(f"{name} {value:g}" for name, value in counters.items())


def _output_row(name: str, health: OutputHealth) -> str:
    badge = _OUTPUT_BADGE.get(health.state, "down")
    return (
        f'<tr data-output="{_attr(name)}" data-state="{_attr(health.state.value)}">'
        f'<td class="output">{escape(name)}</td>'
        f'<td class="state"><span class="badge {badge}">{escape(health.state.value)}</span></td>'
        f"{_time_cell('since', health.since)}"
        f'<td class="address">{escape(health.address or "")}</td>'
        f'<td class="last-error">{escape(health.last_error or "")}</td>'
        f'<td class="counters">{escape(_counters_text(health.counters))}</td></tr>'
    )


@lru_cache(maxsize=1024)
def _manufacturer(identification: str | None) -> str | None:
    if not identification:
        return None
    try:
        return Identification.parse(identification.strip()).manufacturer
    except FramingError:
        return None


def signal_title(
    info: SignalInfo, device: DeviceView | None = None, update: SignalUpdate | None = None
) -> str:
    """The tooltip of a signal: its name, its description (the configured one, else the
    OBIS catalogue's for its address, the meter's maker and unit), its address."""
    lines = [info.name]
    text = info.description
    if not text and info.tag:
        unit = (update.unit if update is not None else None) or info.unit
        found = describe(
            info.tag,
            manufacturer=_manufacturer(device.identification if device else None),
            unit=unit,
        )
        text = found.description if found is not None else ""
    if text:
        lines.append(text)
    if info.tag:
        lines.append(info.tag)
    return "\n".join(lines)


def _signal_row(device: str, signal: str, label: str, update: SignalUpdate | None) -> str:
    value, unit, quality, time = "—", "", "", ""
    bad = False
    if update is not None:
        obj = update_json(update)
        value = "—" if obj["value"] is None else str(obj["value"])
        unit = obj["unit"] or ""
        quality = ", ".join(obj["quality"])
        bad = not update.quality.is_valid
        time = obj["time"]
    time_attr = f' data-time="{_attr(time)}"' if time else ""
    return (
        f'<tr data-device="{_attr(device)}" data-signal="{_attr(signal)}"{time_attr}>'
        f'<td class="device">{escape(device)}</td>'
        f'<td class="signal" title="{_attr(label)}">{escape(signal)}</td>'
        f'<td class="value">{escape(value)}</td>'
        f'<td class="unit">{escape(unit)}</td>'
        f'<td class="quality{" quality-bad" if bad else ""}">{escape(quality)}</td>'
        f'<td class="age"></td></tr>'
    )


def _series_option(info: SignalInfo) -> str:
    text = f"{info.device} / {info.signal}"
    return (
        f'    <option data-device="{_attr(info.device)}" data-signal="{_attr(info.signal)}">'
        f"{escape(text)}</option>"
    )


def render_page(
    state: LiveState,
    outputs: Mapping[str, OutputHealth] | None = None,
    *,
    now: datetime | None = None,
) -> str:
    """The whole page: every device, every output's health, every configured signal
    (and any other signal that sent a value), a history choice per logged signal."""
    rows: list[str] = []
    seen: set[tuple[str, str]] = set()
    for key, info in state.signals.items():
        update = state.latest.get(key)
        title = signal_title(info, state.devices.get(info.device), update)
        rows.append(_signal_row(info.device, info.signal, title, update))
        seen.add(key)
    for key, update in state.latest.items():
        if key not in seen:
            rows.append(_signal_row(key[0], key[1], key[1], update))
    now = now or datetime.now(UTC)
    return _template().substitute(
        rendered=escape(now.isoformat(timespec="seconds")),
        device_rows="\n".join(_device_row(v) for v in state.devices.values()),
        output_rows="\n".join(_output_row(n, h) for n, h in (outputs or {}).items()),
        signal_rows="\n".join(rows),
        series_options="\n".join(_series_option(i) for i in state.signals.values() if i.logged),
    )
