"""The readout data message ``STX data-block ! CR LF ETX BCC`` and its parser."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from obisgate.errors import ChecksumError, FramingError
from obisgate.protocol.bcc import BccMethod, bcc_hint, compute_bcc
from obisgate.protocol.chars import EOT, ETX, LF, MASK_7BIT, SOH, STX
from obisgate.protocol.dataset import DataSet, parse_data_block
from obisgate.protocol.identification import Identification

__all__ = [
    "BccStatus",
    "RawMessage",
    "Readout",
    "cut_frame_message",
    "ends_in_partial_acknowledgement",
    "maybe_extract_data_message",
    "parse_readout",
    "skip_acknowledgements",
]

_SKIP_BEFORE_DATA = frozenset(b"\r\n\x00\x7f")
# ACK, then the option select's V Z Y (or nothing: a meter's own ACK), then the line end.
_ACK_LINE = re.compile(rb"[\r\n\x00\x7f]*\x06[0-9A-Za-z]{0,3}\r?\n")
_ACK_LINE_PREFIX = re.compile(rb"[\r\n\x00\x7f]*\x06[0-9A-Za-z]{0,3}\r?")


class BccStatus(StrEnum):
    """What the block check of a readout showed."""

    VALID = "valid"
    ABSENT = "absent"
    """The meter sent no STX/ETX/BCC (allowed, and normal in mode D); never
    reported for a message holding an STX."""
    NOT_CHECKED = "not checked"
    """A BCC was sent but checking was switched off."""
    MISSING = "missing"
    """The frame was cut after ``!`` CR LF: STX came, ETX and BCC never did
    (accepted only with checking switched off)."""


@dataclass(frozen=True, slots=True)
class Readout:
    """Every data set of one readout, exactly as sent.

    Attributes:
        datasets: the data sets in the order the meter sent them.
        bcc: whether the block check was valid, absent or not checked.
        identification: the identification line, when the parsed bytes held one.
        unparsed: text fragments of the block that are not data sets (normally empty).
    """

    datasets: tuple[DataSet, ...]
    bcc: BccStatus
    identification: Identification | None = None
    unparsed: tuple[str, ...] = ()
    _index: dict[str, DataSet] = field(default_factory=dict, repr=False, compare=False)

    def get(self, address: str) -> DataSet | None:
        """The first data set whose address is exactly ``address``, or ``None``."""
        index = self._index
        if not index and self.datasets:
            for ds in reversed(self.datasets):
                index[ds.address] = ds
        return index.get(address)


_new_object = object.__new__
_new_tuple = tuple.__new__  # builds a NamedTuple without its keyword-handling __new__
_set_datasets, _set_bcc, _set_identification, _set_unparsed, _set_index = (
    getattr(Readout, name).__set__
    for name in ("datasets", "bcc", "identification", "unparsed", "_index")
)


_VALID = BccStatus.VALID
_NOT_CHECKED = BccStatus.NOT_CHECKED


class RawMessage(NamedTuple):
    """A complete data message found in a receive buffer.

    Attributes:
        start: index of its first byte (STX, or the first data byte if
            unframed); line noise before STX lies before it.
        end: index just past its last byte (the BCC, or the LF after ``!``).
        block: the bytes the BCC covers (after STX, through ETX/EOT); for an
            unframed readout the data up to and including ``!``.
        bcc: the received BCC, or ``None`` when the message had no framing.
    """

    start: int
    end: int
    block: bytes
    bcc: int | None

    @property
    def terminator(self) -> int | None:
        """ETX or EOT for a framed message, ``None`` otherwise."""
        return self.block[-1] if self.bcc is not None else None

    def data_text(self) -> str:
        """The data block as text, without the ``! CR LF`` and the terminator."""
        block = self.block
        end = block.rfind(b"!")
        if end < 0:
            end = len(block) - 1 if self.bcc is not None else len(block)
        return block[:end].decode("latin-1")


def _skip_line_ends(buf: bytes | bytearray) -> int:
    """Index of the first byte of ``buf`` that is not CR, LF, NUL or DEL."""
    start = 0
    n = len(buf)
    while start < n and buf[start] in _SKIP_BEFORE_DATA:
        start += 1
    return start


def _frame_after_noise(buf: bytes | bytearray, start: int, limit: int) -> int:
    """Index of an STX in ``buf[start:limit]`` (the bytes before it are line noise), or -1.

    Raises:
        FramingError: the bytes before that STX hold a message start (``/`` of
            an identification, SOH of a command message): not line noise.
    """
    stx = buf.find(STX, start, limit)
    if stx < 0:
        return -1
    noise = buf[start:stx]
    for byte, what in ((0x2F, "an identification ('/')"), (SOH, "a command message (SOH)")):
        if byte in noise:
            raise FramingError(
                f"{what} in the {stx - start} bytes before the STX of the data message"
            )
    return stx


def maybe_extract_data_message(buf: bytes | bytearray, scan_from: int = 0) -> RawMessage | None:
    """Find a complete data message at the start of ``buf``.

    Leading CR, LF, NUL and DEL bytes are skipped. A message starting with STX
    ends at the first ETX or EOT, and the byte after that is its BCC whatever
    its value. Any other start is an unframed readout that ends at ``!`` CR LF
    (or ``!`` LF, or ``!`` followed by anything else) -- unless an STX comes
    before that ``!`` (or, with no ``!`` yet, anywhere): then the message is
    framed, it starts at that STX, and the bytes before it are line noise.

    Line noise before STX is skipped, never parsed as data, and the BCC is
    verified as usual. This is what a careful hand-held unit does: after the
    request, and after a rate switch, the receiver hunts for STX, and the
    glitches it sees meanwhile (a half-seated optical head, the UART settling
    at the new rate, a second meter answering on the same bus) are bytes
    such as 0xFF, 0xF8, 0xE0, 0x80 -- after the parity bit is masked, DEL,
    ``x``, backquote, NUL: printable or NUL, so they cannot be told apart
    from data by their value. The BCC covers every byte after STX, so data
    that the noise did not touch is proven intact and is read, and data it
    did touch fails the check (a repeat request, then a ChecksumError). The
    one thing noise must never do is turn the check off: an STX in the
    message always means a framed message whose BCC is checked. Noise that
    holds a message start (``/`` or SOH) is a FramingError instead: another
    identification or a command message is not noise, and a valid BCC after
    it would not tell which meter sent the data.

    Args:
        buf: received bytes, bit 7 cleared.
        scan_from: where the search for the end may resume (an optimisation
            for buffers that grow; 0 is always correct).

    Returns:
        The message, or ``None`` if more bytes are needed.

    Raises:
        FramingError: the buffer starts with a byte that cannot start a data
            message (an identification, SOH, ACK, NAK, ETX, EOT), or line
            noise before STX holds ``/`` or SOH.
    """
    n = len(buf)
    start = _skip_line_ends(buf)
    if start >= n:
        return None
    first = buf[start]
    if first == STX:
        return _framed_message(buf, start, scan_from)
    if first < 0x20 or first == 0x2F:  # control byte, or "/" (an identification)
        what = "an identification" if first == 0x2F else f"byte 0x{first:02X}"
        raise FramingError(f"expected a data message, got {what}")
    bang = buf.find(b"!", max(start, scan_from))
    # An STX before the end of what looks unframed makes it a framed message after
    # noise. The search starts at ``start``, not ``scan_from``: an STX seen by an
    # earlier call must still be found.
    stx = _frame_after_noise(buf, start, bang if bang >= 0 else n)
    if stx >= 0:
        return _framed_message(buf, stx, scan_from)
    if bang < 0 or bang + 1 >= n:
        return None
    after = buf[bang + 1]
    if after == LF:
        end = bang + 2
    elif after == 0x0D:
        if bang + 2 >= n:
            return None
        end = bang + 3 if buf[bang + 2] == LF else bang + 2
    else:
        end = bang + 1
    return RawMessage(start, end, bytes(buf[start : bang + 1]), None)


def _framed_message(buf: bytes | bytearray, stx: int, scan_from: int) -> RawMessage | None:
    """The message whose STX is at ``stx``, or ``None`` until its ETX/EOT and BCC are there."""
    n = len(buf)
    i = stx + 1
    pos = max(i, scan_from)
    etx = buf.find(ETX, pos)
    eot = buf.find(EOT, pos, etx if etx >= 0 else n)
    term = eot if eot >= 0 else etx
    if term < 0 or term + 1 >= n:
        return None
    return _new_tuple(RawMessage, (stx, term + 2, bytes(buf[i : term + 1]), buf[term + 1]))


def check_bcc(message: RawMessage, method: BccMethod, *, verify: bool = True) -> BccStatus:
    """Verify the BCC of a framed message.

    Raises:
        ChecksumError: ``verify`` is set and the BCC is wrong; its hint names the
            other method when that one matches (a SUM7 meter read with XOR).
    """
    received = message.bcc
    if received is None:
        return BccStatus.ABSENT
    if not verify:
        return BccStatus.NOT_CHECKED
    expected = compute_bcc(message.block, method)
    if expected != received:
        raise ChecksumError(expected, received, hint=bcc_hint(message.block, received, method))
    return _VALID


def readout_from_message(
    message: RawMessage, bcc: BccStatus, identification: Identification | None = None
) -> Readout:
    """Parse the data sets of a complete message."""
    return _readout(message.data_text(), bcc, identification)


def _readout(text: str, bcc: BccStatus, identification: Identification | None) -> Readout:
    """The readout of data block ``text`` (between STX and ``!``)."""
    datasets, unparsed = parse_data_block(text)
    readout: Readout = _new_object(Readout)
    # The frozen dataclass's __init__ sets each field through object.__setattr__; its
    # slots' own setters give the same object in half the time (a readout costs a few us).
    _set_datasets(readout, tuple(datasets))
    _set_bcc(readout, bcc)
    _set_identification(readout, identification)
    _set_unparsed(readout, tuple(unparsed) if unparsed else ())
    _set_index(readout, {})
    return readout


def _stx_first(buf: bytes, method: BccMethod, verify: bool) -> Readout | None:
    """:func:`parse_readout` of ``buf`` (bit 7 cleared) starting with STX, when its ETX
    and BCC are there, no EOT comes before that ETX and the BCC is right (or not
    checked); ``None`` for anything else: the general way then decides, errors included.

    What a meter sends first when asked; the general way finds the same message (no
    identification, no acknowledgement before the STX) after more work.
    """
    etx = buf.find(b"\x03")
    if etx < 0 or etx + 2 > len(buf) or buf.find(b"\x04", 1, etx) >= 0:
        return None
    block = buf[1 : etx + 1]
    if not verify:
        bcc = _NOT_CHECKED
    elif compute_bcc(block, method) == buf[etx + 1]:
        bcc = _VALID
    else:
        return None
    bang = block.rfind(b"!")
    return _readout(block[: bang if bang >= 0 else -1].decode("latin-1"), bcc, None)


def skip_acknowledgements(buf: bytes | bytearray) -> int:
    """Index just past the ``ACK ... LF`` lines at the start of ``buf``.

    Skips, in any number, the acknowledgement / option select ``ACK V Z Y CR LF``
    (its echo) and a meter's own ``ACK CR LF``, with CR, LF, NUL and DEL bytes
    before them. An ``ACK`` line whose end has not arrived yet is not skipped
    (see :func:`ends_in_partial_acknowledgement`).
    """
    pos = 0
    while match := _ACK_LINE.match(buf, pos):
        pos = match.end()
    return pos


def ends_in_partial_acknowledgement(buf: bytes | bytearray) -> bool:
    """Whether ``buf`` is the beginning of an ``ACK`` line (more bytes may complete it)."""
    return _ACK_LINE_PREFIX.fullmatch(buf) is not None


def cut_frame_message(buf: bytes | bytearray) -> RawMessage | None:
    """A framed message cut after its ``!`` CR LF (STX, no ETX and BCC), or ``None``.

    Many loggers record a readout this way, and some converters drop the tail.
    The returned message has no BCC: its block is the data through ``!``.
    Line noise before the STX is skipped as in :func:`maybe_extract_data_message`
    (which has already rejected noise holding ``/`` or SOH).
    """
    start = _skip_line_ends(buf)
    n = len(buf)
    stx = buf.find(STX, start)
    if stx < 0 or b"!" in buf[start:stx]:
        return None
    body = bytes(buf[stx + 1 :])
    if ETX in body or EOT in body:
        return None
    bang = body.rfind(b"!")
    if bang < 0 or body[bang + 1 :].strip(b"\r\n\x00") != b"":
        return None
    return RawMessage(stx, n, body[: bang + 1], None)


def _is_request_line(line: bytes) -> bool:
    """A request ``/?...!`` (or a manufacturer variant ``/2..!``): never an identification."""
    text = line.rstrip(b"\r")
    return text.startswith(b"/") and (text.endswith(b"!") or text.startswith(b"/?"))


def parse_readout(
    data: bytes,
    *,
    bcc_method: BccMethod | str = BccMethod.XOR,
    verify_bcc: bool = True,
) -> Readout:
    """Parse a captured readout.

    ``data`` may hold the data message alone, framed (``STX ... ETX BCC``) or
    unframed (``... ! CR LF``), optionally preceded by the identification line;
    junk before ``/``, an echo of the request (``/?!`` CR LF, ``/?12345!`` CR
    LF), the acknowledgement / option select and a meter's own ``ACK`` CR LF are
    skipped, and bytes after the message are ignored. Bit 7 is cleared first, so
    7E1 bytes captured over an 8N1 link parse too. Data lines without the final
    ``!`` are accepted as an unframed block. A framed block cut after ``!`` CR
    LF (no ETX, no BCC) is accepted when ``verify_bcc`` is off, with
    :attr:`BccStatus.MISSING`. Line noise before STX is skipped and the BCC
    checked (see :func:`maybe_extract_data_message`): a message holding an STX
    is never reported with :attr:`BccStatus.ABSENT`.

    Raises:
        ChecksumError: the BCC is wrong (and ``verify_bcc`` is set).
        FramingError: a framed message is truncated (and ``verify_bcc`` is set,
            or it was cut before ``!``), or the bytes are not a readout.
    """
    method = bcc_method if type(bcc_method) is BccMethod else BccMethod(bcc_method)
    buf = data if data.isascii() else data.translate(MASK_7BIT)
    if buf[:1] == b"\x02" and (readout := _stx_first(buf, method, verify_bcc)) is not None:
        return readout
    ident: Identification | None = None
    while True:
        slash = buf.find(b"/")
        stx = buf.find(b"\x02")
        # A "/" after an opening bracket is inside a value (§11 #13), not an identification.
        if slash < 0 or (0 <= stx < slash) or buf.find(b"(", 0, slash) >= 0:
            break
        lf = buf.find(b"\n", slash)
        if lf < 0:
            raise FramingError("identification line has no CR LF")
        line = buf[slash:lf]
        buf = buf[lf + 1 :]
        if _is_request_line(line):
            continue  # our request, echoed by a half-duplex converter or optical head
        ident = Identification.parse(line.rstrip(b"\r").decode("latin-1"))
        break
    buf = buf[skip_acknowledgements(buf) :]
    message = maybe_extract_data_message(buf)
    if message is None:
        cut = cut_frame_message(buf)
        if cut is not None and not verify_bcc:
            return readout_from_message(cut, BccStatus.MISSING, ident)
        start = _skip_line_ends(buf)
        if STX in buf[start:]:
            # Framed, perhaps after line noise: never an unframed readout with BCC absent.
            raise FramingError("data message is truncated: no ETX and BCC after STX")
        message = RawMessage(start, len(buf), bytes(buf[start:]), None)
    return readout_from_message(message, check_bcc(message, method, verify=verify_bcc), ident)
