"""Password schemes: P1, caller-supplied P2, the Elster A1700/A1140 algorithm, secrecy."""

from __future__ import annotations

import pickle

import pytest

from obisgate import make_scheme
from obisgate.errors import ConfigError
from obisgate.protocol.passwords import (
    ComputedPassword,
    ElsterPassword,
    NoPassword,
    PasswordScheme,
    PlainPassword,
    Secret,
    elster_password,
)

# Public seed/response pairs: Gurux "Elster A 1700 password" page (password FEDC0003)
# and the Gurux forum thread "Elster A1140 Hash calculation" (password 00000000).
ELSTER_VECTORS = [
    ("FEDC0003", "FD2BA0E29731D230", "BE2C10B158593B3E"),
    ("00000000", "B0A692CB07930FD1", "61F79994CB6EAD8E"),
    ("00000000", "EA864EBC197ED3D3", "BD73F17DA6F4D7BA"),
]


@pytest.mark.parametrize(("password", "seed", "response"), ELSTER_VECTORS)
def test_elster_algorithm_reproduces_published_pairs(
    password: str, seed: str, response: str
) -> None:
    assert elster_password(password, seed) == response
    assert elster_password(password, seed.lower()) == response


def test_elster_scheme_replies_p2() -> None:
    reply = ElsterPassword("FEDC0003").reply("FD2BA0E29731D230")
    assert reply.command == "P2"
    assert reply.secret.reveal() == "BE2C10B158593B3E"


@pytest.mark.parametrize(
    ("password", "seed", "needle"),
    [
        ("1234567", "FD2BA0E29731D230", "8 ASCII"),
        ("123456789", "FD2BA0E29731D230", "8 ASCII"),
        ("12345678", "FD2BA0E29731D2", "16 hex"),
        ("12345678", "XYZ", "16 hex"),
    ],
)
def test_elster_rejects_bad_input_without_naming_the_password(
    password: str, seed: str, needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        elster_password(password, seed)
    assert password not in str(info.value)


def test_plain_password_ignores_the_operand() -> None:
    scheme = PlainPassword("s3cret!x")
    reply = scheme.reply("anything")
    assert (reply.command, reply.secret.reveal()) == ("P1", "s3cret!x")
    assert scheme.secrets() == (Secret("s3cret!x"),)


def test_computed_password_calls_the_function_with_the_operand() -> None:
    seen: list[str] = []

    def compute(operand: str) -> str:
        seen.append(operand)
        return operand[::-1]

    reply = ComputedPassword(compute).reply("1234")
    assert (reply.command, reply.secret.reveal()) == ("P2", "4321")
    assert seen == ["1234"]


def test_no_password_sends_nothing() -> None:
    assert NoPassword().reply("x") is None
    assert NoPassword().secrets() == ()


def test_schemes_satisfy_the_protocol() -> None:
    for scheme in (NoPassword(), PlainPassword("a"), ElsterPassword("a"), ComputedPassword(str)):
        assert isinstance(scheme, PasswordScheme)


def test_secrets_never_show_themselves() -> None:
    secret = Secret("hunter22")
    scheme = PlainPassword(secret)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr(scheme), str(scheme)):
        assert "hunter22" not in text
    assert "hunter22" not in repr(ElsterPassword("hunter22"))
    assert "hunter22" not in repr(PlainPassword("hunter22").reply("x"))
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    assert secret == Secret("hunter22")
    assert secret != Secret("other")
    assert bool(Secret("")) is False


def test_make_scheme_by_name() -> None:
    assert isinstance(make_scheme("p1", "x"), PlainPassword)
    assert isinstance(make_scheme("P2-Elster", "12345678"), ElsterPassword)
    assert isinstance(make_scheme("elster", "12345678"), ElsterPassword)
    assert isinstance(make_scheme("none", None), NoPassword)
    with pytest.raises(ConfigError, match="needs a password"):
        make_scheme("p1", None)
    with pytest.raises(ConfigError, match="allowed"):
        make_scheme("md5", "x")


def reverse_with_password(operand: str, password: str) -> str:
    """A P2 plug-in for the test below."""
    return operand[::-1] + password


def test_make_scheme_loads_a_p2_plugin_function() -> None:
    scheme = make_scheme(f"p2:{__name__}:reverse_with_password", "pw")
    reply = scheme.reply("abc")
    assert reply is not None
    assert (reply.command, reply.secret.reveal()) == ("P2", "cbapw")
    assert Secret("pw") in scheme.secrets()
    with pytest.raises(ConfigError, match="cannot import"):
        make_scheme("p2:no.such.module:f", "pw")
    with pytest.raises(ConfigError, match="cannot import"):
        make_scheme(f"p2:{__name__}:missing", "pw")
    with pytest.raises(ConfigError, match="MODULE:FUNCTION"):
        make_scheme("p2:onlymodule", "pw")


@pytest.mark.parametrize("bad", ["ab\u20accd", "pass(word", "tab\there", "a*b"])
def test_password_that_cannot_be_sent_is_a_config_error_without_its_text(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        make_scheme("p1", bad)
    assert bad not in str(info.value)
    assert bad not in repr(info.value)
