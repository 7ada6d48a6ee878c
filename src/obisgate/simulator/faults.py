"""Fault injection: the ways real meters and links misbehave, selectable by name.

Every fault has a name (used by ``obisgate simulate --fault NAME`` and
:meth:`Faults.from_names`) and a one-line description in :data:`FAULTS`.
Faults apply to every meter of a simulator; several may be combined.

``echo``
    Every byte the client sends comes straight back, at once and never
    garbled (a two-wire current loop, some optical heads, half-duplex RS-485
    adapters). A client must strip the echo of its request and option select.
``bad-bcc``
    The readout's BCC is wrong (XOR 0x01) on every transmission, NAK repeats
    included: the client must report a checksum error after its repeats.
``bad-bcc-once``
    Only the first readout of a session has a wrong BCC; the repeat after a
    NAK is correct, so a client with one repeat request succeeds.
``silence``
    The meter never answers (no identification, no push); the echo fault,
    if also set, still echoes.
``slow-reaction``
    The meter waits 2.0 s (more than tr max 1.5 s) before every answer.
``inter-byte-gap``
    The readout stops for 2.0 s (more than ta 1.5 s) after its first half.
``junk``
    ``DEL NUL DEL NUL CR LF`` precede the identification (a badly seated head).
``parity``
    Every byte sent carries its even-parity bit in bit 7: 7E1 characters as
    an 8N1 link delivers them (``/`` arrives as 0xAF).
``trailing``
    ``CR LF NUL "TRAILING JUNK" CR LF`` follow the readout's BCC (gateways that
    append lines); a client must stop at ETX + BCC.
``drop``
    The line is cut after half the readout: TCP and RFC 2217 connections are
    closed, a pty goes silent (a pty cannot be closed from the meter's side).
``wrong-baud``
    The meter accepts the switch (mode B, or mode C option select) but keeps
    sending at 300 Bd: a client that switched receives garbage on a pty or
    RFC 2217 (on raw TCP, where rates do not exist, nothing shows).
``lost-byte``
    One byte in the middle of every readout is lost, so the BCC does not
    match; a NAK repeat loses it again.
``trickle``
    After half the readout the meter sends one more byte every 0.5 s (well
    within ta) and never ends: only a total deadline frees the line.
``close-after-nak``
    The meter closes the connection when it receives a repeat request (NAK);
    with ``bad-bcc`` the client must still report the checksum failure.
``glued-data``
    Mode B: the readout goes out in the same write (TCP segment) as the
    identification, as a converter that cannot switch rates delivers it.
``meter-ack``
    Mode C: the meter answers the option select with its own ``ACK CR LF``
    before the readout.
``cut-frame``
    The readout's ETX and BCC never come: the frame ends after ``!`` CR LF and
    the line is cut (TCP: closed; pty: silent), as a converter dropping the tail.
``ignore-mode-e``
    Mode E: the meter ignores ``ACK 2 Z 2`` and sends its mode C readout at
    the Z rate (seen on an Apator meter): the reader must say so.
``lost-ua``
    HDLC: the first SNRM gets no UA; the client's retransmission gets one.
``busy``
    HDLC: the meter answers every request with RNR (receiver not ready) and
    the client's first RR poll after it with its answer.
``segmented``
    HDLC: the meter's information field is 32 bytes and GET answers above 64
    bytes come in data blocks, so every long answer is segmented twice.
``noise``
    Line noise (0xF8 0xE0 0x80 ``A``: after masking ``x``, backquote, NUL,
    ``A``) precedes the readout's STX, at the readout's rate (a glitch after
    the rate switch); a client must skip it and still check the BCC.
``misread-total``
    The meter's first energy or volume total (the first data line whose unit
    is Wh, kWh, MWh, m3 ...) is misread twice: in the 2nd readout it is one
    unit lower, in the 4th it is a spike (:data:`SPIKE_FACTOR` times the
    total); every other readout carries the true value, each with a correct
    BCC. What Home Assistant takes for a meter reset, then an impossible
    consumption: the gateway's guards must keep both from being published as valid.

Personalities that ``obisgate probe`` has to find a way around:

``needs-wakeup``
    The meter sleeps (battery and heat meters): it answers a request only
    within 5 s after at least 20 NULs (the standard's wake-up, Annex B).
``strict-parity``
    A 7E1 meter behind a link that carries 8 bits (a transparent 8N1
    converter): a byte whose bit 7 is not its even-parity bit is a parity
    error to the meter and is dropped, so a client must send the parity bit
    itself (``software_parity``). With ``parity`` the meter's own bytes carry
    it too.
``slow-switch``
    Models a USB head that reports "drained" too early: the meter hears the
    option select only if the client's rate stays at 300 Bd for 0.3 s after
    it; a client that switches sooner garbles its tail, and the meter sends
    its readout at 300 Bd (the standard's fallback) while the client listens
    at the new rate. A ``baud_change_delay`` of 0.3 s or more (and below the
    meter's reaction time) cures it.
``mode-a-only``
    The meter announces a rate (mode C) but behaves as mode A: the readout
    follows the identification at 300 Bd at once, whatever the client answers.
``address-only``
    The meter answers only requests carrying its own address, never the
    general address ``/?!``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Final

from obisgate.errors import ConfigError

__all__ = [
    "FAULTS",
    "LOWER_TOTAL_READOUT",
    "SPIKE_FACTOR",
    "SPIKE_READOUT",
    "Faults",
    "misread_total",
]

#: Fault name -> what it does. The order is the order of ``--list-faults``.
FAULTS: Final[dict[str, str]] = {
    "echo": "echo every received byte straight back (two-wire loop, some optical heads)",
    "bad-bcc": "send a wrong BCC on every readout, repeats included",
    "bad-bcc-once": "send a wrong BCC on the first readout only; a NAK repeat is correct",
    "silence": "never answer anything (the meter is off or the head is not on the port)",
    "slow-reaction": "wait 2.0 s (more than tr max 1.5 s) before every answer",
    "inter-byte-gap": "pause 2.0 s (more than ta 1.5 s) in the middle of the readout",
    "junk": "send garbage (DEL, NUL, CR LF) before the identification",
    "parity": "set bit 7 of every byte sent as its even-parity bit (7E1 over an 8N1 link)",
    "trailing": "send extra bytes after the readout's BCC (TCP gateways appending lines)",
    "drop": "cut the line in the middle of the readout (TCP: close; pty: go silent)",
    "wrong-baud": "accept the baud switch but keep sending at 300 Bd (garbled on pty/RFC 2217)",
    "lost-byte": "lose one byte in the middle of every readout (BCC no longer matches)",
    "trickle": "after half the readout, send one byte every 0.5 s forever (never ends)",
    "close-after-nak": "close the connection on a repeat request (NAK)",
    "glued-data": "mode B: send the readout in the same write as the identification",
    "meter-ack": "mode C: send ACK CR LF before the readout",
    "cut-frame": "drop the readout's ETX and BCC, then cut the line",
    "noise": "send line noise before the readout's STX (a glitch after the rate switch)",
    "ignore-mode-e": "mode E: ignore ACK 2Z2 and send the mode C readout at the Z rate",
    "lost-ua": "HDLC: do not answer the first SNRM (the UA is lost)",
    "busy": "HDLC: answer every request with RNR (busy), then the client's RR poll",
    "segmented": "HDLC: 32-byte frames and 64-byte GET data blocks (long answers segmented)",
    "misread-total": "readout 2: the first energy total 1 lower; readout 4: a spike (x1000)",
    "needs-wakeup": "answer only within 5 s after a NUL wake-up (at least 20 NULs)",
    "strict-parity": "drop received bytes whose bit 7 is not their even parity (8N1 link)",
    "slow-switch": "hear the option select only if the client stays at 300 Bd 0.3 s after it",
    "mode-a-only": "announce a rate but send the readout at 300 Bd right after the identification",
    "address-only": "answer only requests with this meter's address, never /?!",
}

#: Reaction time of the ``slow-reaction`` fault and pause of ``inter-byte-gap``.
SLOW_REACTION_S: Final = 2.0
INTER_BYTE_GAP_S: Final = 2.0
#: What ``junk`` sends before the identification, and ``trailing`` after the BCC.
JUNK_BYTES: Final = b"\x7f\x00\x7f\x00\r\n"
TRAILING_BYTES: Final = b"\r\n\x00TRAILING JUNK\r\n"
#: What ``noise`` sends before the readout's STX.
NOISE_BYTES: Final = b"\xf8\xe0\x80A"
#: Seconds between two bytes of the ``trickle`` fault, and the byte sent.
TRICKLE_INTERVAL_S: Final = 0.5
TRICKLE_BYTE: Final = b"0"
#: Which readouts of a meter the ``misread-total`` fault garbles (counted from 1),
#: and how: the lower total is the true one minus 1, the spike the true one times
#: :data:`SPIKE_FACTOR`.
LOWER_TOTAL_READOUT: Final = 2
SPIKE_READOUT: Final = 4
SPIKE_FACTOR: Final = 1000
#: ``needs-wakeup``: NULs that wake the meter, and how long it then stays awake.
WAKEUP_MIN_NULS: Final = 20
AWAKE_S: Final = 5.0
#: ``slow-switch``: how long the client must stay at the old rate after the option select.
SWITCH_HOLD_S: Final = 0.3


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """Which faults are active. The default injects none.

    Attributes:
        echo: see :data:`FAULTS` (each attribute is the fault name with ``_``
            for ``-``).
    """

    echo: bool = False
    bad_bcc: bool = False
    bad_bcc_once: bool = False
    silence: bool = False
    slow_reaction: bool = False
    inter_byte_gap: bool = False
    junk: bool = False
    parity: bool = False
    trailing: bool = False
    drop: bool = False
    wrong_baud: bool = False
    lost_byte: bool = False
    trickle: bool = False
    close_after_nak: bool = False
    glued_data: bool = False
    meter_ack: bool = False
    cut_frame: bool = False
    noise: bool = False
    ignore_mode_e: bool = False
    lost_ua: bool = False
    busy: bool = False
    segmented: bool = False
    misread_total: bool = False
    needs_wakeup: bool = False
    strict_parity: bool = False
    slow_switch: bool = False
    mode_a_only: bool = False
    address_only: bool = False

    @classmethod
    def from_names(cls, names: Iterable[str]) -> Faults:
        """Build from fault names such as ``["echo", "bad-bcc"]``.

        Raises:
            ConfigError: an unknown name (the message lists the known ones).
        """
        chosen: dict[str, bool] = {}
        for name in names:
            key = name.strip().lower()
            if key not in FAULTS:
                raise ConfigError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
            chosen[key.replace("-", "_")] = True
        return cls(**chosen)

    def plus(self, names: Iterable[str]) -> Faults:
        """These faults and those named (one meter's own faults on a shared line).

        Raises:
            ConfigError: an unknown name.
        """
        names = list(names)
        return Faults.from_names([*self.names, *names]) if names else self

    @property
    def names(self) -> list[str]:
        """The active faults' names."""
        return [f.name.replace("_", "-") for f in fields(self) if getattr(self, f.name)]

    def __bool__(self) -> bool:
        return bool(self.names)


_TOTAL_LINE = re.compile(
    r"^(?P<head>[^(]*\()(?P<value>[0-9]+(?:\.[0-9]*)?)(?P<tail>\*(?P<unit>[A-Za-z0-9³]+)\).*)$"
)
_TOTAL_UNITS = frozenset({"wh", "kwh", "mwh", "gwh", "varh", "kvarh", "m3", "m³"})


def misread_total(lines: Sequence[str], readout: int) -> tuple[str, ...] | None:
    """The data lines of readout number ``readout`` (from 1) under ``misread-total``, or
    ``None`` when that readout is true (or no line holds a total).

    The first line whose unit is a total's gets its value lowered by 1 (readout
    :data:`LOWER_TOTAL_READOUT`) or multiplied by :data:`SPIKE_FACTOR` (readout
    :data:`SPIKE_READOUT`), written with as many decimals as the meter writes.
    """
    if readout not in (LOWER_TOTAL_READOUT, SPIKE_READOUT):
        return None
    for index, line in enumerate(lines):
        match = _TOTAL_LINE.match(line)
        if match is None or match["unit"].lower() not in _TOTAL_UNITS:
            continue
        text = match["value"]
        decimals = len(text.partition(".")[2])
        value = Decimal(text)
        value = (
            max(value - 1, Decimal(0)) if readout == LOWER_TOTAL_READOUT else value * SPIKE_FACTOR
        )
        shown = f"{value:0{len(text)}.{decimals}f}"
        garbled = list(lines)
        garbled[index] = f"{match['head']}{shown}{match['tail']}"
        return tuple(garbled)
    return None
