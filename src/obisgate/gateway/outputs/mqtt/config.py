"""Configuration of the MQTT output (``[mqtt]``).

Fields and defaults are in ``docs/configuration.md``, generated from the
descriptions below. Nothing here imports the MQTT client library, so a
configuration loads without the extra.
"""

from __future__ import annotations

import hashlib
import re
import socket
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator

from obisgate.errors import ConfigError
from obisgate.gateway import config_cells as cells
from obisgate.gateway.numbers import SCALED_TYPES
from obisgate.gateway.outputs.config_problem import SignalProblem
from obisgate.gateway.outputs.mqtt.ha_classes import (
    HA_DEVICE_CLASSES,
    HA_STATE_CLASSES,
    class_problems,
)
from obisgate.gateway.outputs.mqtt.ha_discovery import infer_classes
from obisgate.gateway.readings.partitions import MAX_PARTITIONS
from obisgate.mqtt_url import MqttUrl, parse_mqtt_url, tls_context, tls_problems
from obisgate.password_config import read_configured_password

if TYPE_CHECKING:
    from obisgate.gateway.config_models import SignalConfig

__all__ = [
    "HA_DEVICE_CLASSES",
    "HA_STATE_CLASSES",
    "MqttColumns",
    "MqttConfig",
    "default_client_id",
    "legacy_client_id",
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


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", socket.gethostname()).strip("-") or "host"


def default_client_id(source: Path | None = None, shard: str | None = None) -> str:
    """The client id of a gateway whose ``[mqtt]`` sets none: unique per host,
    configuration and shard, the same at every start.

    ``obisgate-<hostname>-<hash>[-<shard>]``, ``<hash>`` the first 8 hex digits of the
    BLAKE2b of the configuration's absolute path (none without ``source``), so two
    configurations on one host, and the workers of one, never share a client id.
    """
    tail = ""
    if source is not None:
        path = str(Path(source).expanduser().absolute()).encode("utf-8", "surrogateescape")
        tail += "-" + hashlib.blake2b(path, digest_size=4).hexdigest()
    if shard:
        tail += f"-{shard}"
    return f"obisgate-{_host()}"[: 128 - len(tail)] + tail


def legacy_client_id(shard: str | None = None) -> str:
    """The default client id before it was unique per configuration
    (``obisgate-<hostname>[-<shard>]``): the node of an address-less meter's old
    discovery configs, which :func:`~.ha_discovery.legacy_removals` removes."""
    tail = f"-{shard}" if shard else ""
    return f"obisgate-{_host()}"[: 128 - len(tail)] + tail


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
    client_id: Annotated[str | None, BeforeValidator(cells.optional(_client_id))] = Field(
        default=None,
        description="The MQTT client id, 1-128 of letters, digits, `-`, `_`, `.`, `:`; also "
        "names the gateway's availability topic. The broker throws a client off when "
        "another connects with its id: the default is unique per host, configuration file "
        "and shard, and the same at every start (with `--shard I/N` or `--workers` it ends "
        "in `-shardI`). A gateway that finds another live gateway connecting with its id "
        "turns its MQTT output off (the one started later) and says so; `check --workers N` "
        "and `run --workers N` refuse a configured id (every worker would use it).",
        json_schema_extra={"shown": "obisgate-<hostname>-<hash of the configuration's path>"},
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
    retain_state: cells.Switch = Field(
        default=False,
        description="1: the state messages (`state`, or each signal's `out`) are retained, "
        "so a client that subscribes (Home Assistant after a restart) has the latest "
        "readout at once instead of `unknown` until the next scan.",
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

    def client_identity(self, source: Path | None = None, shard: str | None = None) -> str:
        """The client id a gateway (instance ``shard``) of the configuration at
        ``source`` connects with: :attr:`client_id`, else :func:`default_client_id`."""
        return self.client_id or default_client_id(source, shard)

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
        secret = read_configured_password("[mqtt]", self.password_env, self.password_file)
        return None if secret is None else SecretStr(secret)

    def start_problems(self, source: Path | None, workers: int | None) -> list[str]:
        """What would keep the output from starting (``check`` and ``run`` say it alike):
        the password cannot be read, a TLS file cannot be read or is no certificate or
        key (each named), a configured client id that ``workers`` processes would share.
        """
        problems: list[str] = []
        try:
            self.resolve_password()
        except ConfigError as exc:
            problems.append(str(exc))
        unreadable = False
        for name in ("ca_file", "cert_file", "key_file"):
            path: Path | None = getattr(self, name)
            if path is None:
                continue
            try:
                path.open("rb").close()
            except OSError as exc:
                problems.append(f"[mqtt] {name} {path}: cannot read it ({exc.strerror})")
                unreadable = True
        if self.tls and not unreadable:
            try:
                self.tls_context()
            except (OSError, ssl.SSLError) as exc:
                problems.append(f"[mqtt] the TLS files ca_file / cert_file / key_file: {exc}")
        if workers is not None and workers > 1 and self.client_id is not None:
            problems.append(
                f"[mqtt] client_id {self.client_id!r} is set, so all {workers} workers "
                "would connect with it and the broker would throw each one off when the next "
                "connects: remove client_id (each worker then gets its own, "
                f"{self.client_identity(source)}-shard0 ...)"
            )
        return problems

    def describe(self, source: Path | None) -> str:
        """Where it publishes: the broker and the client id (``check``'s list of outputs)."""
        parts = [self.url, f"client id {self.client_identity(source)}"]
        if self.discovery_prefix:
            parts.append(f"Home Assistant discovery under {self.discovery_prefix}/")
        if self.retain_state:
            parts.append("state retained")
        return ", ".join(parts)


class MqttColumns(BaseModel):
    """The signal columns of the MQTT output (Home Assistant discovery)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ha_device_class: Annotated[
        str | None, BeforeValidator(cells.optional(cells.named(HA_DEVICE_CLASSES)))
    ] = Field(
        default=None,
        description="The Home Assistant device class: " + ", ".join(HA_DEVICE_CLASSES) + "; "
        "`none`: no class. A class that does not fit the signal's configured `unit` (Home "
        "Assistant's units of each class: power needs W, kW ..., gas m³, L ...), a numeric "
        "class on a text signal (STRING, HEX, DIGITAL, dates) and `timestamp` / `date` on a "
        "number are errors. A text signal never gets a unit or class in discovery.",
        json_schema_extra={"shown": "inferred from the unit"},
    )
    ha_state_class: Annotated[
        str | None, BeforeValidator(cells.optional(cells.named(HA_STATE_CLASSES)))
    ] = Field(
        default=None,
        description="The Home Assistant state class: measurement, total, total_increasing; "
        "`none`: no class. A state class the device class does not take (energy, gas, "
        "water, volume: total or total_increasing; power, voltage ...: measurement) is an "
        "error, as is one on a text signal.",
        json_schema_extra={"shown": "inferred from the unit"},
    )


def mqtt_signal_problems(
    section: MqttConfig, signals: Sequence[SignalConfig]
) -> list[SignalProblem]:
    """Problems of the signals' Home Assistant columns against Home Assistant's rules
    (:func:`~obisgate.gateway.outputs.mqtt.ha_classes.class_problems`).

    The classes checked are the ones discovery would announce (a column, else
    inferred from a configured unit); a unit is checked only when configured (a
    meter's own unit is known only at run time, where discovery leaves a class
    out rather than announce a wrong one). Nothing is checked when discovery is off.
    """
    if not section.discovery_prefix:
        return []
    problems: list[SignalProblem] = []
    for signal in signals:
        columns = signal.columns(MqttColumns)
        if columns.ha_device_class is None and columns.ha_state_class is None:
            continue  # inferred classes follow the rules by construction
        numeric = signal.number_type in SCALED_TYPES
        _, device_class, state_class = infer_classes(
            signal.unit,
            names=(signal.signal_alias, signal.signal_name),
            device_class=columns.ha_device_class,
            state_class=columns.ha_state_class,
        )
        if not numeric:
            device_class = None if columns.ha_device_class in (None, "none") else device_class
            state_class = None if columns.ha_state_class in (None, "none") else state_class
        for field, message in class_problems(
            device_class, state_class, signal.unit, numeric=numeric
        ):
            problems.append(SignalProblem(signal.key, field, message))
    return problems
