"""Who may open an OPC UA session: anonymous (loopback only) or a user of the users file.

A user name and password are accepted only over a secured channel (Sign or
SignAndEncrypt: the client presented its certificate), whatever endpoint the
client claims: asyncua lets any client open an unsecured channel (for
discovery) even when no ``None`` endpoint is offered.

Pure apart from the hashing. asyncua asks synchronously, on the event loop, so
a check must be cheap: a user name and password that passed once are
remembered (their SHA-256, in memory only) and pass again without scrypt; the
other checks (about 0.05 s of scrypt each) are rationed by a token bucket, at
most ``burst`` at once and ``per_second`` on average, and refused without
hashing beyond that, so a flood of wrong passwords cannot stall polling.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping

from obisgate.gateway.outputs.opcua.users import verify_password

__all__ = ["Logins"]


class Logins:
    """Checks logins against the users file.

    Args:
        users: user name -> stored scrypt hash.
        anonymous: whether anonymous sessions are allowed (loopback).
        per_second: scrypt checks allowed per second on average.
        burst: scrypt checks allowed at once.
        clock: monotonic seconds (injected by tests).

    Attributes:
        refused: logins refused so far.
        throttled: logins refused without a check because too many came at once.
    """

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        anonymous: bool,
        per_second: float = 2.0,
        burst: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users = dict(users)
        self.anonymous = anonymous
        self.per_second = per_second
        self.burst = burst
        self.refused = 0
        self.throttled = 0
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self._passed: dict[str, bytes] = {}

    def check(self, username: str | None, password: str | None, *, secured: bool) -> bool:
        """Whether a session may open: anonymous (no user name), or a known user and password
        over a ``secured`` channel."""
        if username is None:
            allowed = self.anonymous
        else:
            allowed = secured and self._check_user(username, password or "")
        if not allowed:
            self.refused += 1
        return allowed

    def _check_user(self, username: str, password: str) -> bool:
        stored = self.users.get(username)
        if stored is None:
            return False
        fingerprint = hashlib.sha256(password.encode("utf-8")).digest()
        remembered = self._passed.get(username)
        if remembered is not None and hmac.compare_digest(remembered, fingerprint):
            return True
        if not self._take_token():
            self.throttled += 1
            return False
        if not verify_password(password, stored):
            return False
        self._passed[username] = fingerprint
        return True

    def _take_token(self) -> bool:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
