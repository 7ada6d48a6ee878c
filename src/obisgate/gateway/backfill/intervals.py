"""Load-profile rows -> the updates of a backfill (pure).

One batch per interval: the values of the channels that fill a signal, each
converted like the signal's readout value (number type, ``multiply``, ``add``,
unit; a row's value without a unit takes its channel's), stamped with the
interval's own time in UTC and marked :attr:`~obisgate.gateway.quality.Quality.BACKFILLED`.
Every backfilled update is logged (the history is what it fills).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from obisgate import LoadProfile, Value
from obisgate.gateway.backfill.spans import Span
from obisgate.gateway.backfill.times import to_utc
from obisgate.gateway.numbers import convert
from obisgate.gateway.plan import SignalPlan
from obisgate.gateway.quality import Quality
from obisgate.gateway.updates import SignalUpdate

__all__ = ["interval_batches", "missing_channels"]

Channels = Sequence[tuple[str, SignalPlan]]


def interval_batches(
    device: str,
    profile: LoadProfile,
    channels: Channels,
    span: Span,
    zone: tzinfo | None,
    *,
    decimal_comma: bool = False,
) -> list[list[SignalUpdate]]:
    """The updates of every row of ``profile`` stamped within ``span``, one batch per row,
    oldest first; a row that has none of the channels gives no batch."""
    batches: list[list[SignalUpdate]] = []
    for row in profile.rows:
        moment = to_utc(row.timestamp, zone, row.season)
        if not span.lo < moment <= span.hi:
            continue
        by_code = {
            channel.code: value if value.unit is not None else value._replace(unit=channel.unit)
            for channel, value in zip(row.channels, row.values, strict=True)
        }
        batch: list[SignalUpdate] = []
        for code, signal in channels:
            value = by_code.get(code)
            if value is not None:
                batch.append(_update(device, signal, value, moment, decimal_comma))
        if batch:
            batches.append(batch)
    return batches


def _update(
    device: str, signal: SignalPlan, value: Value, moment: datetime, decimal_comma: bool
) -> SignalUpdate:
    converted = convert(
        value,
        signal.number_type,
        multiply=signal.multiply,
        add=signal.add,
        decimal_comma=decimal_comma or signal.decimal_comma,
        unit=signal.unit,
    )
    return SignalUpdate(
        device,
        signal.alias,
        converted.value,
        converted.unit,
        moment,
        converted.quality | Quality.BACKFILLED,
        converted.raw or None,
        True,
    )


def missing_channels(profile: LoadProfile, channels: Channels) -> list[str]:
    """The configured channels the profile's headers do not name (when it sent any)."""
    if not profile.channels:
        return []
    sent = {channel.code for channel in profile.channels}
    return sorted({code for code, _ in channels if code not in sent})
