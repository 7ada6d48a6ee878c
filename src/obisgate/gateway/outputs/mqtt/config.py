"""Configuration of the MQTT output (``[mqtt]``).

Fields and defaults are in ``docs/configuration.md``, generated from the
descriptions below. Nothing here imports the MQTT client library, so a
configuration loads without the extra.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator

from obisgate.errors import ConfigError
from obisgate.gateway import config_cells as cells
from obisgate.gateway.outputs.config_problem import SignalProblem
from obisgate.gateway.readings.partitions import MAX_PARTITIONS
from obisgate.mqtt_url import MqttUrl, parse_mqtt_url, tls_context, tls_problems
from obisgate.password_config import read_password_file

if TYPE_CHECKING:
    from obisgate.gateway.config_models import SignalConfig

__all__ = [
    "HA_DEVICE_CLASSES",
    "HA_STATE_CLASSES",
    "MqttColumns",
    "MqttConfig",
    "default_client_id",
    "mqtt_signal_problems",
    "mqtt_url",
]


class _HiddenUrl:
    """Stands for a URL that held credentials, so that no message can show it."""


def mqtt_url(value: object) -> str:
    """A broker URL of the shared grammar (:mod:`obisgate.mqtt_url`) without user or
    password, as written (without a trailing ``/``).

    Raises:
        ValueError: not allowed; the message says what is.
    """
    if isinstance(value, _HiddenUrl):
        raise ValueError(  # noqa: TRY004 - pydantic reports ValueError as a field error
            "no user or password in the url: use username and password_env / password_file"
        )
    text = cells.as_text(value)
    try:
        parse_mqtt_url(text)
    except ValueError as exc:
        raise ValueError(
            f"{exc}; credentials go in username and password_env / password_file"
        ) from None
    return text.rstrip("/")


def _topic_prefix(value: object) -> str:
    text = cells.as_text(value)
    if (
        not text
        or text.startswith("/")
        or text.endswith("/")
        or "//" in text
        or any(c in text for c in "+#\0")
    ):
        raise ValueError("a topic without + # or empty levels, e.g. obisgate or site1/meters")
    return text


def _discovery_prefix(value: object) -> str:
    # An empty cell means "the default" everywhere in a configuration, so "none" turns it off.
    text = cells.as_text(value)
    return "" if text.lower() in ("", "none") else _topic_prefix(text)


def _client_id(value: object) -> str:
    text = cells.as_text(value)
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,128}", text):
        raise ValueError("1-128 letters, digits, '-', '_', '.', ':'")
    return text


def default_client_id() -> str:
    """``obisgate-<hostname>``, the host name reduced to characters allowed in a client id."""
    host = re.sub(r"[^A-Za-z0-9_.-]+", "-", socket.gethostname()).strip("-") or "host"
    return f"obisgate-{host}"[:128]


class MqttConfig(BaseModel):
    """The ``[mqtt]`` section. Present = the output is on.

    Attributes:
        url: ``mqtt://host[:port]`` (port 1883) or ``mqtts://host[:port]`` (TLS, 8883), the
            grammar of :mod:`obisgate.mqtt_url` without credentials.
        ca_file, cert_file, key_file: TLS trust and client certificate (mqtts only;
            relative to the configuration's folder after loading).
        username: broker user name.
        password_env, password_file: where the broker password is read when the
            output connects (never at load time, never shown).
        client_id: the MQTT client id, also the gateway's availability topic level.
        topic_prefix: first level(s) of every topic.
        qos: QoS of the state messages (0, 1 or 2).
        format: ``json`` (one message per readout) or ``wcc`` (one per signal).
        discovery_prefix: Home Assistant discovery prefix; ``""`` (``none`` in a
            file) turns discovery off.
        outbox_max_rows: messages kept while the broker is unreachable; the
            oldest are dropped (and counted) beyond this.
        history_partitions: 0 (off), or the number of history partitions: every
            readout is then also published (``json``, whatever ``format`` says) on
            ``<prefix>/history/<p>/<device>`` for ``obisgate sink postgres``
            (:mod:`obisgate.gateway.readings.partitions`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: Annotated[str, BeforeValidator(mqtt_url)] = Field(
        description="The broker: `mqtt://HOST[:PORT]` (port 1883) or `mqtts://HOST[:PORT]` "
        "(TLS, port 8883); an IPv6 address in brackets. No user or password in the URL."
    )
    ca_file: Annotated[Path | None, BeforeValidator(cells.optional(cells.as_path))] = Field(
        default=None,
        description="`mqtts://` only: the CA certificates to trust, relative to the "
        "configuration's folder.",
        json_schema_extra={"shown": "the system's trust store"},
    )
    cert_file: Annotated[Path | None, BeforeValidator(cells.optional(cells.as_path))] = Field(
        default=None,
        description="`mqtts://` only: a client certificate (with its key, unless `key_file`).",
    )
    key_file: Annotated[Path | None, BeforeValidator(cells.optional(cells.as_path))] = Field(
        default=None,
        description="`mqtts://` only: the client certificate's key; needs `cert_file`.",
    )
    username: cells.OptText = Field(default=None, description="The broker user.")
    password_env: Annotated[str | None, BeforeValidator(cells.optional(cells.env_name))] = Field(
        default=None,
        repr=False,
        description="The name of an environment variable holding the broker password, read "
        "when the output connects (unset: the output does not start); needs `username`.",
    )
    password_file: Annotated[Path | None, BeforeValidator(cells.optional(cells.as_path))] = Field(
        default=None,
        repr=False,
        description="Or a file whose first line is the password, relative to the "
        "configuration's folder (warned when group or others may read it); never shown.",
    )
    client_id: Annotated[str, BeforeValidator(_client_id)] = Field(
        default_factory=default_client_id,
        description="The MQTT client id, 1-128 of letters, digits, `-`, `_`, `.`, `:`; also "
        "names the gateway's availability topic. With `--shard I/N` a default one gets "
        "`-shardI`.",
        json_schema_extra={"shown": "obisgate-<hostname>"},
    )
    topic_prefix: Annotated[str, BeforeValidator(_topic_prefix)] = Field(
        default="obisgate",
        description="The first level(s) of every topic: no `+`, `#` or empty levels.",
    )
    qos: Annotated[int, BeforeValidator(cells.int_choice((0, 1, 2)))] = Field(
        default=1, description="The QoS of the state messages: 0, 1 or 2."
    )
    format: Annotated[
        Literal["json", "wcc"],
        BeforeValidator(cells.choice({"JSON": "json", "WCC": "wcc"}, "json, wcc")),
    ] = Field(
        default="json",
        description="`json`: one message per readout on `<prefix>/<device>/state`; `wcc`: "
        "`value,timestamp_ms,quality` per signal on `<prefix>/<device>/<signal>/out`.",
    )
    discovery_prefix: Annotated[str, BeforeValidator(_discovery_prefix)] = Field(
        default="homeassistant",
        description="Home Assistant discovery under this prefix (published again when Home "
        "Assistant announces `online` on `<prefix>/status`); `none` turns discovery off (an "
        "empty value means the default, as for every field).",
    )
    outbox_max_rows: Annotated[int, BeforeValidator(cells.int_range(100, 100_000_000))] = Field(
        default=1_000_000,
        description="Messages kept on disk while the broker is unreachable (100 to "
        "100000000); beyond this the oldest are dropped and counted.",
    )
    history_partitions: Annotated[int, BeforeValidator(cells.int_range(0, MAX_PARTITIONS))] = Field(
        default=0,
        description="0 (off), or the number of history partitions (up to "
        f"{MAX_PARTITIONS}): every readout is then also published (`json`, QoS 1, whatever "
        "`format` says) on `<prefix>/history/<p>/<device>`, `p` a stable hash of the device "
        "modulo N, for `obisgate sink postgres --partitions N`; N is announced retained on "
        "`<prefix>/history/partitions`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _hide_credentials(cls, data: Any) -> Any:
        if isinstance(data, dict) and "@" in str(data.get("url", "")):
            data = {**data, "url": _HiddenUrl()}
        return data

    @model_validator(mode="after")
    def _check_combinations(self) -> MqttConfig:
        problems = tls_problems(self.broker, self.ca_file, self.cert_file, self.key_file)
        if self.password_env is not None and self.password_file is not None:
            problems.append("give only one of password_env, password_file")
        if (self.password_env or self.password_file) and self.username is None:
            problems.append("a password needs a username")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def broker(self) -> MqttUrl:
        """:attr:`url` parsed (it holds no credentials)."""
        return parse_mqtt_url(self.url)

    @property
    def tls(self) -> bool:
        """True for ``mqtts://``."""
        return self.broker.tls

    @property
    def host(self) -> str:
        """The broker's host name or address (IPv6 without brackets)."""
        return self.broker.host

    @property
    def port(self) -> int:
        """The broker's port (1883 for mqtt://, 8883 for mqtts:// when not given)."""
        return self.broker.port

    def tls_context(self) -> ssl.SSLContext:
        """The TLS context of an ``mqtts://`` broker (:func:`obisgate.mqtt_url.tls_context`).

        Raises:
            OSError: a file cannot be read.
            ssl.SSLError: a file is not a certificate or key.
        """
        return tls_context(self.ca_file, self.cert_file, self.key_file)

    def with_base_dir(self, base: Path) -> MqttConfig:
        """This section with relative file paths resolved against ``base``."""
        update: dict[str, Any] = {}
        for name in ("ca_file", "cert_file", "key_file", "password_file"):
            path: Path | None = getattr(self, name)
            if path is not None and not path.expanduser().is_absolute():
                update[name] = base / path.expanduser()
        return self.model_copy(update=update) if update else self

    def resolve_password(self) -> SecretStr | None:
        """The broker password from ``password_env`` or ``password_file``, read now.

        From a file: its first line, without the line end (the rule of meter
        passwords, :func:`~obisgate.password_config.read_password_file`).

        Raises:
            ConfigError: the variable is not set or the file cannot be read (the
                message names the variable, never the value).
        """
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(
                    f"[mqtt] the variable named in password_env ({self.password_env}) is not set"
                )
            return SecretStr(value)
        if self.password_file is not None:
            try:
                return SecretStr(read_password_file(self.password_file))
            except ConfigError:
                raise ConfigError("[mqtt]: cannot read the password_file") from None
        return None


#: Home Assistant sensor device classes obisgate may announce (``none``: no class).
HA_DEVICE_CLASSES = (
    "energy", "power", "gas", "water", "voltage", "current", "frequency",
    "temperature", "volume", "volume_flow_rate", "power_factor", "reactive_power",
    "apparent_power", "pressure", "duration", "timestamp", "none",
)  # fmt: skip
HA_STATE_CLASSES = ("measurement", "total", "total_increasing", "none")


class MqttColumns(BaseModel):
    """The signal columns of the MQTT output (Home Assistant discovery)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ha_device_class: Annotated[
        str | None, BeforeValidator(cells.optional(cells.named(HA_DEVICE_CLASSES)))
    ] = Field(
        default=None,
        description="The Home Assistant device class: " + ", ".join(HA_DEVICE_CLASSES) + "; "
        "`none`: no class. A class that does not fit the signal's configured `unit` (gas, "
        "water, volume without a volume unit; energy without an energy unit) is an error.",
        json_schema_extra={"shown": "inferred from the unit"},
    )
    ha_state_class: Annotated[
        str | None, BeforeValidator(cells.optional(cells.named(HA_STATE_CLASSES)))
    ] = Field(
        default=None,
        description="The Home Assistant state class: measurement, total, total_increasing; "
        "`none`: no class. energy with measurement is an error (Home Assistant refuses it).",
        json_schema_extra={"shown": "inferred from the unit"},
    )


#: Units (lower case) a gas or water signal may have in Home Assistant.
_VOLUME_UNITS = frozenset({"m3", "m³", "ft3", "ft³", "ccf", "l", "gal"})
#: Device classes that require one of :data:`_VOLUME_UNITS`.
_VOLUME_CLASSES = frozenset({"gas", "water", "volume"})
#: Units (lower case) of energy in Home Assistant.
_ENERGY_UNITS = frozenset({"wh", "kwh", "mwh", "gwh", "j", "kj", "mj", "gj"})


def mqtt_signal_problems(
    section: MqttConfig, signals: Sequence[SignalConfig]
) -> list[SignalProblem]:
    """Problems of the signals' Home Assistant columns against their configured units.

    Only signals with an explicit ``unit`` are checked (a meter's own unit is
    known only at run time). Nothing is checked when discovery is off.
    """
    if not section.discovery_prefix:
        return []
    problems: list[SignalProblem] = []
    for signal in signals:
        columns = signal.columns(MqttColumns)
        device_class = columns.ha_device_class
        unit = (signal.unit or "").strip().lower()
        if device_class is None or device_class == "none" or not unit:
            continue
        if device_class in _VOLUME_CLASSES and unit not in _VOLUME_UNITS:
            problems.append(
                SignalProblem(
                    signal.key,
                    "ha_device_class",
                    f"{device_class} needs a volume unit (m3, ft3, L, gal), "
                    f"the signal's unit is {signal.unit!r}",
                )
            )
        elif device_class == "energy" and unit not in _ENERGY_UNITS:
            problems.append(
                SignalProblem(
                    signal.key,
                    "ha_device_class",
                    f"energy needs Wh, kWh, MWh, GWh, J, kJ, MJ or GJ, "
                    f"the signal's unit is {signal.unit!r}",
                )
            )
        if device_class == "energy" and columns.ha_state_class == "measurement":
            problems.append(
                SignalProblem(
                    signal.key,
                    "ha_state_class",
                    "energy needs total or total_increasing (Home Assistant refuses measurement)",
                )
            )
    return problems
