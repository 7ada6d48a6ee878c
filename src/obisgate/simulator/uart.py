"""What a UART receives when the sender runs at another baud rate.

Used by the pty and RFC 2217 servers: when the client's port rate differs from
the rate the meter sends (or listens) at, the bytes are passed through this
bit-level model instead of arriving intact, so a client that fails to switch
baud really sees garbage, as it would on a serial line.

Model: every byte is a 10-bit frame (start bit 0, 8 data bits LSB first, stop
bit 1), back to back at the sender's rate; the line idles at 1 afterwards. The
receiver waits for a low level, samples the middle of each of its own bit
periods, and delivers the 8 data bits; a low stop bit is a framing error,
delivered as NUL (as Linux does without ``PARMRK``), after which the receiver
waits for the line to go high again. 7E1 is the same frame with the parity bit
in bit 7. Deterministic, and linear in the number of bits.
"""

from __future__ import annotations

__all__ = ["retime"]

_FRAME_BITS = 10


def retime(data: bytes, tx_baud: int, rx_baud: int) -> bytes:
    """Bytes a receiver at ``rx_baud`` decodes from ``data`` sent at ``tx_baud``.

    Args:
        data: the bytes as sent, back to back.
        tx_baud: the sender's rate.
        rx_baud: the receiver's rate.

    Returns:
        ``data`` unchanged when the rates are equal, otherwise what the
        receiver makes of it (often shorter or longer, mostly NUL and junk).
    """
    if tx_baud == rx_baud or not data:
        return data
    bits = _bits(data)
    nbits = len(bits)
    ratio = tx_baud / rx_baud  # sender bits per receiver bit

    def level(t: float) -> int:
        """Line level at ``t`` (in sender bit times)."""
        k = int(t)
        return bits[k] if 0 <= k < nbits else 1

    out = bytearray()
    t = 0.0
    while True:
        # Wait for a low level at or after t.
        k = int(t)
        if level(t) == 1:
            k += 1
            while k < nbits and bits[k] == 1:
                k += 1
            if k >= nbits:
                break
            t = float(k)
        start = t
        if level(start + 0.5 * ratio) == 1:  # glitch shorter than half a bit
            t = start + 0.5 * ratio
            continue
        value = 0
        for i in range(8):
            value |= level(start + (1.5 + i) * ratio) << i
        stop_at = start + 9.5 * ratio
        if level(stop_at) == 1:
            out.append(value)
            t = stop_at
        else:
            out.append(0)  # framing error
            k = int(stop_at)
            while k < nbits and bits[k] == 0:
                k += 1
            t = float(k)
        if t >= nbits:
            break
    return bytes(out)


def _bits(data: bytes) -> bytearray:
    bits = bytearray(len(data) * _FRAME_BITS)
    pos = 0
    for byte in data:
        # bits[pos] stays 0: the start bit
        for i in range(8):
            bits[pos + 1 + i] = (byte >> i) & 1
        bits[pos + 9] = 1
        pos += _FRAME_BITS
    return bits
