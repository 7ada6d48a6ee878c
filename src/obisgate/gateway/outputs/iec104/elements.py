"""IEC 60870-5-101/104 information elements as bytes: qualities, short float, counter, time tag.

Sans-IO and pure. Octet layouts (IEC 60870-5-101 §7.2.6):

* QDS (quality descriptor of measured values): OV = 0x01, BL = 0x10, SB = 0x20,
  NT = 0x40, IV = 0x80.
* SIQ (single-point information): SPI = 0x01 and the same BL, SB, NT, IV bits.
* BCR (binary counter reading): a signed 32-bit count (little endian), then one
  octet: sequence number (bits 0-4), CY = 0x20, CA = 0x40, IV = 0x80.
* CP56Time2a: milliseconds of the minute (two octets), minute (IV = 0x80),
  hour (SU = 0x80), day of month + day of week (1 = Monday, bits 5-7), month,
  year of the century.
"""

from __future__ import annotations

import datetime as dt
import struct

from obisgate.gateway.outputs.iec104.apdu import FrameError

__all__ = [
    "IV",
    "NT",
    "OV",
    "bcr",
    "cp56",
    "parse_cp56",
    "qds",
    "short_float",
    "siq",
]

OV = 0x01
NT = 0x40
IV = 0x80
CY = 0x20


def qds(*, invalid: bool, not_topical: bool, overflow: bool) -> int:
    """The quality descriptor octet of a measured value."""
    return (IV if invalid else 0) | (NT if not_topical else 0) | (OV if overflow else 0)


def siq(on: bool, *, invalid: bool, not_topical: bool) -> int:
    """The single-point information octet (a single point has no OV bit)."""
    return (1 if on else 0) | (IV if invalid else 0) | (NT if not_topical else 0)


def short_float(value: float, quality: int) -> bytes:
    """An IEEE 754 short float (little endian) followed by its quality descriptor.

    Raises:
        OverflowError: the value does not fit a short float.
    """
    return struct.pack("<fB", value, quality)


def bcr(count: int, *, invalid: bool, carry: bool, sequence: int = 0) -> bytes:
    """A binary counter reading.

    Raises:
        struct.error: ``count`` is not a signed 32-bit number.
    """
    flags = (sequence & 0x1F) | (CY if carry else 0) | (IV if invalid else 0)
    return struct.pack("<iB", count, flags)


def cp56(moment: dt.datetime) -> bytes:
    """The CP56Time2a time tag of ``moment``, in UTC (a naive time is taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    millis = moment.second * 1000 + moment.microsecond // 1000
    return bytes(
        (
            millis & 0xFF,
            millis >> 8,
            moment.minute,
            moment.hour,
            moment.day | (moment.isoweekday() << 5),
            moment.month,
            moment.year % 100,
        )
    )


def parse_cp56(data: bytes, *, century: int = 2000) -> dt.datetime:
    """The UTC time of a CP56Time2a time tag (the IV and SU bits are ignored).

    Raises:
        FrameError: not seven octets, or a field out of range (month 13, minute 60 ...).
    """
    if len(data) != 7:
        raise FrameError(f"CP56Time2a of {len(data)} octets, expected 7")
    seconds, millis = divmod(data[0] | (data[1] << 8), 1000)
    try:
        return dt.datetime(
            century + (data[6] & 0x7F),
            data[5] & 0x0F,
            data[4] & 0x1F,
            data[3] & 0x1F,
            data[2] & 0x3F,
            seconds,
            millis * 1000,
            tzinfo=dt.UTC,
        )
    except ValueError as exc:
        raise FrameError(f"CP56Time2a {data.hex(' ')}: {exc}") from None
