"""Password schemes of programming mode: how to answer the meter's P0 prompt.

After the option select ``ACK 0 Z 1``, the meter sends ``SOH P0 STX (operand)
ETX BCC``. A scheme turns that operand into the message the HHU sends back:

* :class:`PlainPassword`: ``P1(password)``, the operand is ignored (low security).
* :class:`ComputedPassword`: ``P2(f(operand))`` with a function the caller supplies
  (manufacturer-specific challenge/response, the standard's "secure algorithm").
* :class:`ElsterPassword`: ``P2`` computed with the algorithm that Elster (now
  Honeywell) A1700 / A1140 meters use (see its docstring for the source).
* :class:`NoPassword`: send no password at all; some meters allow commands right
  after P0 (Annex A).

Every scheme keeps its secret in a :class:`Secret`, whose ``repr`` and ``str``
are masked, so a scheme can be logged, put in an exception or printed safely.

Like the rest of the protocol core this module does no I/O: reading a password file
and building a scheme from its configured name (which may import a Python module) are
in :mod:`obisgate.password_config`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from obisgate.errors import ConfigError

__all__ = [
    "ComputedPassword",
    "ElsterPassword",
    "NoPassword",
    "PasswordReply",
    "PasswordScheme",
    "PlainPassword",
    "Secret",
    "elster_password",
]

_MASK = "********"


class Secret:
    """A string that never shows itself: ``repr``/``str``/``format`` give ``********``.

    Call :meth:`reveal` to get the text; only the message encoder does.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        """Keep ``value``.

        Raises:
            ConfigError: it cannot go on the line inside a data set: only
                printable ASCII without ``( ) *`` (the message never shows it).
        """
        if not (value.isascii() and value.isprintable()) or any(c in value for c in "()*"):
            raise ConfigError("a password must be printable ASCII without ( ) *")
        self._value = value

    def reveal(self) -> str:
        """The secret text."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True, slots=True)
class PasswordReply:
    """The HHU's answer to P0: ``command`` (``"P1"`` or ``"P2"``) and the secret text."""

    command: str
    secret: Secret


@runtime_checkable
class PasswordScheme(Protocol):
    """Turns the meter's P0 operand into a password message.

    Implementations must not put the password in exceptions or their ``repr``.
    """

    @property
    def name(self) -> str:
        """Short name for messages, e.g. ``"p1"`` (never the password)."""
        ...

    def reply(self, operand: str) -> PasswordReply | None:
        """The password to send for ``operand``, or ``None`` to send none.

        Raises:
            ConfigError: the operand does not fit the scheme (e.g. wrong length).
        """
        ...

    def secrets(self) -> tuple[Secret, ...]:
        """Every secret this scheme knows, so traces can mask them."""
        ...


@dataclass(frozen=True, slots=True)
class NoPassword:
    """Send no password; go on with commands right after P0."""

    name: str = "none"

    def reply(self, operand: str) -> PasswordReply | None:
        """Always ``None``."""
        return None

    def secrets(self) -> tuple[Secret, ...]:
        """No secrets."""
        return ()


@dataclass(frozen=True, slots=True, init=False)
class PlainPassword:
    """``P1(password)``: the password in clear text (access level 2, low security)."""

    password: Secret
    name: str

    def __init__(self, password: str | Secret) -> None:
        secret = password if isinstance(password, Secret) else Secret(password)
        object.__setattr__(self, "password", secret)
        object.__setattr__(self, "name", "p1")

    def reply(self, operand: str) -> PasswordReply:
        """``P1`` with the password; the operand is ignored."""
        return PasswordReply("P1", self.password)

    def secrets(self) -> tuple[Secret, ...]:
        """The password."""
        return (self.password,)


@dataclass(frozen=True, slots=True)
class ComputedPassword:
    """``P2(f(operand))``: challenge/response with a caller-supplied function.

    Attributes:
        compute: takes the P0 operand (the text between the brackets) and
            returns the P2 value. It may raise :class:`ConfigError`.
        name: how the scheme is named in messages.
        known_secrets: secrets to mask in traces besides each computed value
            (e.g. the key the function uses).
    """

    compute: Callable[[str], str]
    name: str = "p2"
    known_secrets: tuple[Secret, ...] = ()

    def reply(self, operand: str) -> PasswordReply:
        """``P2`` with ``compute(operand)``.

        Raises:
            ConfigError: the computation failed (its message is not repeated:
                it could contain the password).
        """
        try:
            result = self.compute(operand)
        except Exception as exc:
            raise ConfigError(
                f"password scheme {self.name}: the P2 computation failed ({type(exc).__name__})"
            ) from None
        return PasswordReply("P2", Secret(result))

    def secrets(self) -> tuple[Secret, ...]:
        """The secrets named at construction."""
        return self.known_secrets


def elster_password(password: str, seed: str) -> str:
    """Compute the Elster A1700 / A1140 P2 response from a password and the P0 seed.

    Public description: Gurux, "Elster A 1700 password" (gurux.fi/node/5415,
    31 May 2016), restated here in our own words; the same arithmetic
    reproduces the seed/response pairs posted in the Gurux forum thread
    "Elster A1140 Hash calculation" (gurux.fi/comment/20828). Steps:

    1. The operand is 16 hex digits: the 8 seed bytes ``s[0..7]``.
    2. ``c[i] = ord(password[i]) XOR s[i]`` for the 8 password characters.
    3. A running sum over the bytes, starting from the last one: with
       ``carry = c[7]``, for ``i = 0..7``: ``c[i] = (c[i] + carry) mod 256``,
       then ``carry = c[i]``.
    4. The response is ``c[0..7]`` as 16 upper-case hex digits.

    Args:
        password: exactly 8 ASCII characters (Elster's factory default is
            ``FEDC0003``; ``00000000`` is also common).
        seed: the P0 operand, 16 hex digits.

    Raises:
        ConfigError: wrong password length (the message names no characters)
            or a seed that is not 16 hex digits.
    """
    if len(password) != 8 or not password.isascii():
        raise ConfigError("the Elster scheme needs a password of exactly 8 ASCII characters")
    try:
        seed_bytes = bytes.fromhex(seed)
    except ValueError:
        seed_bytes = b""
    if len(seed_bytes) != 8:
        raise ConfigError(f"the Elster scheme needs a P0 seed of 16 hex digits, got {seed!r}")
    mixed = [ord(ch) ^ s for ch, s in zip(password, seed_bytes, strict=True)]
    carry = mixed[7]
    for i in range(8):
        mixed[i] = (mixed[i] + carry) & 0xFF
        carry = mixed[i]
    return bytes(mixed).hex().upper()


@dataclass(frozen=True, slots=True, init=False)
class ElsterPassword:
    """``P2`` for Elster A1700 / A1140 meters (see :func:`elster_password`)."""

    password: Secret
    name: str

    def __init__(self, password: str | Secret) -> None:
        secret = password if isinstance(password, Secret) else Secret(password)
        object.__setattr__(self, "password", secret)
        object.__setattr__(self, "name", "elster")

    def reply(self, operand: str) -> PasswordReply:
        """``P2`` with the response computed from the seed in ``operand``.

        Raises:
            ConfigError: the password is not 8 characters or the seed not 16 hex digits.
        """
        return PasswordReply("P2", Secret(elster_password(self.password.reveal(), operand)))

    def secrets(self) -> tuple[Secret, ...]:
        """The password (each computed response is masked separately)."""
        return (self.password,)
