"""The [http] section: defaults, listen addresses, and the rule that only loopback may go
without a token."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from obisgate.errors import ConfigError
from obisgate.gateway.config import ConfigFileError, load_config
from obisgate.gateway.outputs.context import OutputContext
from obisgate.gateway.outputs.factory import network_outputs
from obisgate.gateway.outputs.http.config import HttpConfig
from obisgate.gateway.outputs.http.spec import HTTP
from obisgate.gateway.outputs.listen import is_loopback, split_listen
from tests.gateway_http.support import write_config

DEVICE = """\
    [[devices]]
    device_alias = "m1"
    url = "tcp://127.0.0.1:1"
"""


def load_with(tmp_path: Path, http: str) -> HttpConfig:
    config = load_config(write_config(tmp_path, f"[http]\n{http}\n" + DEVICE))
    section = config.section(HTTP)
    assert section is not None
    return section


def problems(tmp_path: Path, http: str) -> list[tuple[str | None, str]]:
    with pytest.raises(ConfigFileError) as info:
        load_config(write_config(tmp_path, f"[http]\n{http}\n" + DEVICE))
    return [(p.field, p.message) for p in info.value.problems]


def test_absent_section_leaves_the_output_off(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path, DEVICE)).section(HTTP) is None


def test_an_empty_section_listens_on_loopback_8080_without_a_token(tmp_path: Path) -> None:
    section = load_with(tmp_path, "")
    assert (section.listen, section.host, section.port) == ("127.0.0.1:8080", "127.0.0.1", 8080)
    assert section.token_env is None
    assert section.allow_anonymous is False
    assert section.history_limit == 10_000
    assert section.token() is None


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ("127.0.0.1:0", "127.0.0.1", 0),
        ("localhost:9000", "localhost", 9000),
        ("[::1]:8080", "::1", 8080),
        ("127.1.2.3:65535", "127.1.2.3", 65535),
    ],
)
def test_loopback_addresses_need_nothing_more(
    tmp_path: Path, listen: str, host: str, port: int
) -> None:
    section = load_with(tmp_path, f'listen = "{listen}"')
    assert (section.host, section.port) == (host, port)


@pytest.mark.parametrize("listen", ["0.0.0.0:8080", "[::]:8080", "192.168.1.5:80", "gw.local:8080"])
def test_any_other_address_without_token_or_allow_anonymous_is_refused(
    tmp_path: Path, listen: str
) -> None:
    ((_field, message),) = problems(tmp_path, f'listen = "{listen}"')
    assert "token_env" in message
    assert "allow_anonymous = 1" in message
    assert listen in message


def test_any_other_address_with_a_token_or_allow_anonymous_is_accepted(tmp_path: Path) -> None:
    assert load_with(tmp_path, 'listen = "0.0.0.0:8080"\ntoken_env = "GW_TOKEN"').token_env == (
        "GW_TOKEN"
    )
    assert load_with(tmp_path, 'listen = "0.0.0.0:8080"\nallow_anonymous = 1').allow_anonymous


@pytest.mark.parametrize(
    ("http", "field", "fragment"),
    [
        ('listen = "8080"', "listen", "HOST:PORT"),
        ('listen = "127.0.0.1:70000"', "listen", "HOST:PORT"),
        ('listen = "[nonsense]:80"', "listen", "HOST:PORT"),
        ('listen = "[abc]:80"', "listen", "HOST:PORT"),
        ('token_env = "MY TOKEN"', "token_env", "environment variable name"),
        ("history_limit = 0", "history_limit", "1"),
        ('allow_anonymous = "maybe"', "allow_anonymous", ""),
        ('colour = "red"', "colour", ""),
    ],
)
def test_bad_fields_are_located(tmp_path: Path, http: str, field: str, fragment: str) -> None:
    found = problems(tmp_path, http)
    assert [f for f, _ in found] == [field]
    assert fragment in found[0][1]


def test_split_listen_and_loopback() -> None:
    assert split_listen(" 10.0.0.1:80 ") == ("10.0.0.1", 80)
    with pytest.raises(ValueError, match="HOST:PORT"):
        split_listen(":80")
    assert is_loopback("LOCALHOST")
    assert is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("example.org")


def test_the_token_comes_from_the_environment_and_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    section = load_with(tmp_path, 'token_env = "OBISGATE_TEST_TOKEN"')
    monkeypatch.setenv("OBISGATE_TEST_TOKEN", "s3cret-t0ken")
    token = section.token()
    assert token is not None
    assert token.get_secret_value() == "s3cret-t0ken"
    assert "s3cret" not in repr(section)
    assert "s3cret" not in repr(token)


def test_an_unset_token_variable_is_a_one_line_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OBISGATE_TEST_TOKEN", raising=False)
    config = load_config(
        write_config(tmp_path, '[http]\ntoken_env = "OBISGATE_TEST_TOKEN"\n' + DEVICE)
    )
    with pytest.raises(ConfigError) as info:
        network_outputs(config, OutputContext())
    message = str(info.value)
    assert "\n" not in message
    assert "OBISGATE_TEST_TOKEN" in message
    assert "not set" in message


@pytest.mark.parametrize("module", ["aiohttp", "prometheus_client"])
def test_a_missing_web_extra_is_a_one_line_config_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    config = load_config(write_config(tmp_path, "[http]\n" + DEVICE))
    with pytest.raises(ConfigError) as info:
        network_outputs(config, OutputContext())
    assert str(info.value) == (
        f"[http] needs the optional extra web ({module} is not installed): "
        "pip install '.[web]' in obisgate's source folder"
    )
