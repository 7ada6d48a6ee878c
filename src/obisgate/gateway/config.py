"""Gateway configuration: devices (meters), signals (values read from them), storage, output.

Load with :func:`load_config`; the file formats (TOML, Excel, CSV pair) are
described in :mod:`obisgate.gateway.config_files`. The sections below
(``[storage]``, ``[output]``, ``[mqtt]`` ...) are TOML tables, Excel sheets named
like them (``MQTT``: field names in row 1, values in row 2) or CSV files beside
the pair (``mqtt.csv``: a header line and one line of values); an absent
section keeps its defaults, an output's section turns that output on. Every model is frozen and
validated; values from Excel/CSV cells may be text or numbers (``"1"``, ``1``,
``1.0`` all work for a whole number; ``1``/``0``, ``true``/``false``,
``yes``/``no`` for a switch) and an empty cell means the default.

Devices (``[[devices]]``), defaults in brackets:

* ``device_alias`` (required, unique): letters, digits, ``-``, ``_``.
* ``name`` [the alias], ``description`` [""], ``enable`` [1],
  ``protocol`` [``IEC 62056-21``; ``IEC 61107`` / ``IEC 1107`` are accepted],
  ``meter_model`` (reserved, accepted and kept).
* Where the meter is: exactly one of ``device`` (serial port path, e.g.
  ``/dev/ttyUSB0`` or ``COM3``), ``ip`` + ``port`` (raw TCP; serial settings are
  ignored; a warning when ``device`` is also given), or ``url``
  (``tcp://host:port`` or ``rfc2217://host:port``; a warning when ``device`` is
  also given; an error together with ``ip``/``port``).
* Serial line: ``baudrate`` [300] (initial rate: 300, 600, ..., 19200; in modes
  B and C the meter's proposed rate is used next), ``databits`` [7] (5-8),
  ``stopbits`` [1] (1, 1.5, 2), ``parity`` [EVEN] (NONE, EVEN, ODD or N/E/O),
  ``flowcontrol`` [NONE] (NONE, RTSCTS, XONXOFF, DSRDTR),
  ``serial_close_delay`` [400] ms to wait before closing the port,
  ``software_parity`` [0] (send 7E1 characters over an 8N1 link: TCP
  converters, modems), ``keep_open`` [0] (raw TCP only: keep the converter
  connection open between polls instead of connecting for every readout;
  a connection that broke meanwhile is reopened at once).
* Protocol: ``serialnumber`` [0] (device address, 1-32 of 0-9 A-Z a-z space;
  ``0`` sends ``/?!``, which every meter on a shared bus may answer: warned when
  the port is shared), ``type`` [C] (mode A, B or C, passed to the reader as the
  forced mode; D: a push meter whose port stays open, each complete telegram
  being one readout, published at most every ``scan_rate_ms`` and turning not
  topical after ``timeout_ms`` of silence), ``t2`` [200] ms (200-1500) before acknowledging in mode C,
  ``timeout_ms`` [2500] for the first byte of an answer, ``inter_byte_timeout_ms``
  [1500], ``poll_delay_ms`` [200] before sending anything, ``scan_rate_ms``
  [10000] (100 ms to 1 day) between readouts, ``total_timeout_ms`` [the scan
  rate, at least 10000] (100 ms to 1 day) limit for one whole poll (opening,
  retries, readout, programming session): when it passes the poll is
  abandoned, the port released and ``_status`` is ``timeout``.
* Mode E / direct HDLC (DLMS/COSEM): ``type`` ``E`` (the IEC 62056-21 opening
  with ``ACK 2 Z 2``, then HDLC at the meter's rate) or ``HDLC`` (HDLC from the
  first byte, 8N1 at ``baudrate`` [9600 when not given]); ``dlms_client`` [16]
  (0-127; 16 = public client), ``dlms_logical`` [1] and ``dlms_physical`` [17]
  (0-16383, the meter's HDLC address); a password (below) is sent as the LLS
  password, and a refused one stops the device's polls until reload. Each poll
  is one association reading every signal's object (with-list where allowed);
  ``timeout_ms`` is also the HDLC response timeout.
* Reader options: ``max_baud`` [none], ``force_baud`` [none], ``switch_baud`` [1]
  (0: never switch rate), ``wakeup`` [0] (number of NUL bytes sent first, 0-10000;
  ``true`` = 66, the standard's 2.2 s at 300 Bd; ``false`` = 0),
  ``wakeup_delay_ms`` [1600] after the NULs, ``request_start`` [``/?``]
  (``/2``, ``/#`` ...), ``strip_echo`` [1], ``bcc_method`` [xor] (xor, sum7),
  ``verify_bcc`` [1], ``repeat_requests`` [1] (NAKs after a wrong BCC),
  ``retries`` [1] (extra readout attempts after a failed one, 0-10),
  ``decimal_comma`` [0] (accept ``7,4`` in numbers of this meter),
  ``baud_change_delay_ms`` [0] (extra wait after the ACK drained, before the
  switch).
* Programming-mode password: ``password_env`` (name of an environment
  variable) or ``password_file`` (path, relative to the configuration file;
  its first line, without the line end, is the password; a warning when group
  or others may read it); a plain ``password`` is accepted with a warning. At most one of the three.
  Their values never appear in messages, logs or ``repr``.

Signals (``[[signals]]``):

* ``device_alias`` (required, must name a device), ``signal_alias`` (required,
  unique per device: letters, digits, ``-``, ``_``, ``.``), ``signal_name`` [the
  alias], ``description`` [""], ``enable`` [1], ``log`` [0] (> 0: keep history).
* ``tag_job_todo`` (required): the address exactly as the meter prints it,
  e.g. ``1.8.0*24`` for the line ``1.8.0*24(0147238.4*kWh)``.
* ``number_type`` (required): see :mod:`obisgate.gateway.numbers`.
* ``value_index`` [1]: which value group, counted **from 1**:
  ``1.6.0(02.468*kW)(2511180930)`` has the demand at 1 and its time stamp at 2.
* ``subvalue`` [none]: which ``&`` sub-value, counted from 1
  (``9.4(088*C&082*C)``); none = the value before the first ``&``.
* ``multiply`` [1], ``add`` [0]: scaling ``value * multiply + add`` for FLOAT,
  DOUBLE and integer types (a warning when set for another type).
* ``unit`` [none]: replaces the unit the meter sends.
* Type E / HDLC devices: ``tag_job_todo`` is the OBIS code in either spelling
  (``1-0:1.8.0*255``, or ``1.8.0`` = A 1, B 0, F 255); ``cosem_class`` [from the
  meter's object list] and ``attribute`` [2, the value]. Values arrive scaled in
  the DLMS unit (Wh, not kWh: ``multiply = 0.001`` and ``unit = "kWh"`` convert);
  an object the meter cannot give (a data-access-result) is ``invalid``.

SCADA columns of signals (empty = not served; see ``check --show-map``):

* Modbus: ``modbus_address`` (0-65535, 0-based holding register; the same
  value is readable as an input register), ``modbus_type`` (float32, float64,
  int16, uint16, int32, uint32, int64, uint64; default float32 for FLOAT and
  DOUBLE, int16/int32/int64 for INT8-16/INT32/INT64, uint16/uint32/uint64 for
  UINT8-16/UINT32/UINT64, uint64 for HEX, uint16 for DIGITAL; FLOAT and DOUBLE
  need a float type; STRING, TIME, DATE, DATETIME cannot be served),
  ``modbus_quality_address`` (one register: 0 valid, else IV=1, NT=2, OV=4).
  Registers used twice (value or quality) and ranges past 65535 are errors.
* IEC 104: ``ioa`` (1-16777215, unique), ``iec104_type`` (``M_ME_TF_1``
  short float with time, default for numbers; ``M_ME_NC_1`` short float;
  ``M_IT_TB_1`` integrated total with time, not for DIGITAL; ``M_SP_TB_1``
  single point with time, default for and only for DIGITAL), ``iec104_scale``
  [1] (value multiplied by it; a counter is a 32-bit integer, so 1000 sends
  Wh from kWh).

These are checked across signals whenever a signal fills them, also without
the section (the map is wrong whether or not the output is on).

``[modbus]`` (Modbus TCP server; extra ``obisgate[modbus]``): ``listen``
[``127.0.0.1:5020``; port 0 = any free port], ``unit_id`` [1] (0-247),
``word_order`` [big] (big, little), ``byte_order`` [big] (big, little).

``[iec104]`` (IEC 60870-5-104 outstation; extra ``obisgate[iec104]``, GPL-3.0):
``listen`` [``127.0.0.1:2404``], ``common_address`` [1] (1-65534),
``max_connections`` [4] (1-255), ``allowed_clients`` [empty: loopback only]
(addresses or networks, a list or text separated by commas), ``allow_any`` [0],
``t1`` [15] s, ``t2`` [10] s (< t1), ``t3`` [20] s, ``k`` [12], ``w`` [8] (<= k).

``[opcua]`` (OPC UA server, one variable per enabled signal; extra
``obisgate[opcua]``, LGPL-3.0): ``listen`` [``127.0.0.1:4840``], endpoint
``opc.tcp://HOST:PORT/obisgate/`` without security.

``[postgres]`` (every readout into PostgreSQL through a durable outbox, the billing
path; extra ``obisgate[postgres]``): ``dsn`` (required):
``postgresql://[user@]host[:port][/database]``, no password in it;
``password_env`` / ``password_file`` [none: libpq's ``PGPASSWORD`` / ``~/.pgpass``],
read when the output connects and never shown; ``batch_rows`` [5000] (1-1000000)
rows per transaction; ``outbox_max_rows`` [1000000] (100-100000000) readouts kept
on disk while the database is unreachable; ``only_logged`` [0]: store only
signals with ``log > 0`` (and ``_status``) instead of every signal.

``[storage]``: ``path`` [``obisgate-history.sqlite``], relative to the
configuration file's directory (the directory itself for a CSV directory);
``synchronous`` [NORMAL] (NORMAL or FULL, see :mod:`obisgate.gateway.history`).
``[output]``: ``format`` (jsonl, table, none) [unset: ``obisgate run`` shows a
table on a terminal, JSON lines otherwise].

``[mqtt]`` (present = publish every readout to an MQTT broker, needs
``obisgate[mqtt]``):

* ``url`` (required): ``mqtt://host[:port]`` [1883] or ``mqtts://host[:port]``
  [8883] for TLS; ``ca_file`` [the system's trust store], ``cert_file`` and
  ``key_file`` (client certificate) only with ``mqtts://``, relative to the
  configuration's folder.
* ``username`` [none]; ``password_env`` (name of an environment variable) or
  ``password_file`` (relative to the configuration's folder), read when the
  output connects and never shown; a password needs a username.
* ``client_id`` [``obisgate-<hostname>``]: 1-128 of letters, digits, ``-``,
  ``_``, ``.``, ``:``; also names the gateway's availability topic.
* ``topic_prefix`` [obisgate]: no ``+``, ``#`` or empty levels.
* ``qos`` [1] (0, 1, 2) of the state messages.
* ``format`` [json]: ``json`` (one message per readout on
  ``<prefix>/<device>/state``) or ``wcc`` (``value,timestamp_ms,quality`` per
  signal on ``<prefix>/<device>/<signal>/out``).
* ``discovery_prefix`` [homeassistant]: Home Assistant discovery; ``none``
  turns it off (an empty value means the default, as for every field). Signals may set ``ha_device_class`` / ``ha_state_class`` (empty or
  absent = inferred from the unit, ``none`` = no class); a class that does not
  fit the signal's configured ``unit`` (gas/water/volume without a volume unit,
  energy without an energy unit or with ``measurement``) is an error of that
  signal.
* ``outbox_max_rows`` [1000000] (100 to 100000000): messages kept on disk while
  the broker is unreachable; beyond this the oldest are dropped and counted.
* ``history_partitions`` [0] (0 to 1024): with N > 0 every readout is also
  published (``json``, QoS 1) on ``<prefix>/history/<p>/<device>``, ``p`` a
  stable hash of the device modulo N, for ``obisgate sink postgres --partitions
  N``; N is announced retained on ``<prefix>/history/partitions``.

``[http]`` (present = the HTTP API, ``/metrics`` and the web view are on; needs
the ``web`` extra; see :mod:`obisgate.gateway.outputs.http.server`):
``listen`` [``127.0.0.1:8080``] (``HOST:PORT``, IPv6 in brackets; port 0 picks a
free one), ``token_env`` [none] (name of the environment variable holding the
bearer token every request but ``/healthz`` must carry; read at start, never
shown), ``allow_anonymous`` [0], ``history_limit`` [10000] (most rows in one
``/api/history`` answer, 1-1000000), ``max_clients`` [100] (most ``/api/events``
streams at once, 1-10000; one more is answered 503). A ``listen`` address that is not loopback
(127.0.0.0/8, ``::1``, ``localhost``) needs ``token_env`` or ``allow_anonymous = 1``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from obisgate import ConfigError, ReadoutOptions, parse_obis
from obisgate.gateway import config_cells as cells
from obisgate.gateway.config_files import (
    ConfigFileError,
    ConfigProblem,
    RawRow,
    RawTables,
    read_tables,
)
from obisgate.gateway.config_models import (
    DEFAULT_HISTORY_FILE,
    SECRET_FIELDS,
    DeviceConfig,
    GatewayConfig,
    OutputConfig,
    SignalConfig,
    StorageConfig,
    connection_problems,
)
from obisgate.gateway.numbers import SCALED_TYPES
from obisgate.gateway.outputs.sections import (
    COLUMNS_CHECKED_WITHOUT_SECTION,
    OUTPUT_SECTIONS,
    SIGNAL_CHECKS,
)
from obisgate.gcpause import paused_gc
from obisgate.password_config import password_file_is_private

__all__ = [
    "DEFAULT_HISTORY_FILE",
    "ConfigFileError",
    "ConfigProblem",
    "DeviceConfig",
    "GatewayConfig",
    "OutputConfig",
    "SignalConfig",
    "StorageConfig",
    "load_config",
]

#: Fields whose error messages already quote the value.
_QUOTED_FIELDS = frozenset({"number_type"})


# -- loading ------------------------------------------------------------------

_ALLOWED: dict[str, frozenset[str]] = {
    "devices": frozenset(DeviceConfig.model_fields),
    "signals": frozenset(SignalConfig.model_fields),
    "storage": frozenset(StorageConfig.model_fields),
    "output": frozenset(OutputConfig.model_fields),
    **{name: frozenset(model.model_fields) for name, model in OUTPUT_SECTIONS.items()},
}


def load_config(path: str | os.PathLike[str]) -> GatewayConfig:
    """Load and validate a gateway configuration.

    Args:
        path: a TOML file (the default for any name that is not ``.xlsx``,
            ``.xlsm`` or ``.csv``), an Excel workbook, one ``.csv`` file of a
            ``*devices*``/``*signals*`` pair, or a directory holding
            ``devices.csv`` and ``signals.csv`` (sections: sheets or files
            named after them, see :mod:`obisgate.gateway.config_files`).

    Returns:
        The configuration, with warnings in :attr:`GatewayConfig.warnings`.
        Relative ``storage.path``, ``password_file`` and the sections' file
        names are resolved against the configuration's directory (a CSV
        directory itself), whichever format holds them.

    Raises:
        ConfigFileError: the file is missing or unreadable, or has one or more
            errors; ``.problems`` lists all of them (file, row or line, field,
            what is allowed) and ``str()`` gives one line per problem.
    """
    source = Path(path)
    if not source.exists():
        raise ConfigFileError([ConfigProblem(str(source), "no such file or directory")])
    with paused_gc():
        tables = read_tables(source, _ALLOWED)
        return _Builder(tables).build()


class _Builder:
    """Validates raw rows into models, collecting every problem."""

    def __init__(self, tables: RawTables) -> None:
        self.tables = tables
        self.problems = list(tables.problems)
        self.warnings = list(tables.warnings)
        # Each valid device's readout options, made once by the load check, for the plans.
        self.options: dict[str, tuple[DeviceConfig, ReadoutOptions]] = {}
        # Equal sets of given fields, one object each (frozen models never change theirs).
        self.fields_sets: dict[frozenset[str], set[str]] = {}

    def build(self) -> GatewayConfig:
        devices = self._devices()
        self._valid_devices = tuple(devices.values())
        signals = self._signals()
        storage = self._single("storage", StorageConfig)
        output = self._single("output", OutputConfig)
        sections: dict[str, Any] = {
            name: self._section(name, model) for name, model in OUTPUT_SECTIONS.items()
        }
        self._signal_checks(sections, signals)
        if not self.tables.devices and not self.tables.problems:
            self.problems.append(
                ConfigProblem(str(self.tables.source), "no devices: add at least one device")
            )
        self._shared_bus_warnings(devices)
        self._password_file_warnings(devices)
        self._push_problems(devices, signals)
        self._dlms_problems(devices, signals)
        if self.problems:
            raise ConfigFileError(_in_file_order(self.problems), _in_file_order(self.warnings))
        assert isinstance(storage, StorageConfig)
        assert isinstance(output, OutputConfig)
        path = storage.path.expanduser()
        if not path.is_absolute():
            storage = storage.model_copy(update={"path": self.tables.base_dir / path})
        for name, section in sections.items():
            # A section with file names resolves them against the configuration's folder.
            with_base_dir = getattr(section, "with_base_dir", None)
            if with_base_dir is not None:
                sections[name] = with_base_dir(self.tables.base_dir)
            secret_file = getattr(sections[name], "password_file", None)
            if secret_file is not None and not password_file_is_private(secret_file):
                self.warnings.append(
                    self.tables.single[name].problem(
                        "password_file is readable by group or others; chmod 600 it",
                        "password_file",
                    )
                )
        config = GatewayConfig(
            devices=tuple(devices.values()),
            signals=tuple(signals),
            storage=storage,
            output=output,
            **sections,
            warnings=tuple(_in_file_order(self.warnings)),
            source=self.tables.source,
        )
        config.remember_readout_options(self.options)
        return config

    def _validate(
        self,
        row: RawRow,
        model: type[BaseModel],
        fields: dict[str, object],
        *,
        skip_row_errors: bool = False,
    ) -> Any:
        """The model, or ``None`` after recording its problems.

        ``skip_row_errors`` drops errors not tied to a field (already reported
        from the raw fields).
        """
        try:
            return model.model_validate(fields)
        except ValidationError as exc:
            for error in exc.errors():
                loc = error["loc"]
                name = str(loc[0]) if loc else None
                if name is None and skip_row_errors:
                    continue
                self.problems.append(row.problem(_error_text(name, error), name))
            return None

    def _devices(self) -> dict[str, DeviceConfig]:
        devices: dict[str, DeviceConfig] = {}
        first_row: dict[str, RawRow] = {}
        for row in self.tables.devices:
            fields = row.fields
            row.fields = {}  # only its location is needed later: free the raw values as we go
            file = fields.get("password_file")
            if isinstance(file, str) and not Path(file).expanduser().is_absolute():
                fields = {
                    **fields,
                    "password_file": str(self.tables.base_dir / Path(file).expanduser()),
                }
            raw_problems = connection_problems(set(fields))
            for name, message in raw_problems:
                self.problems.append(row.problem(message, name))
            device = self._validate(row, DeviceConfig, fields, skip_row_errors=bool(raw_problems))
            alias = _alias_key(fields.get("device_alias"))
            if alias is not None:
                if alias in first_row:
                    self.problems.append(
                        row.problem(
                            f"{alias!r} is already used by {first_row[alias].describe()}",
                            "device_alias",
                        )
                    )
                    continue
                first_row[alias] = row
            if isinstance(device, DeviceConfig):
                given = device.model_fields_set
                shared = self.fields_sets.setdefault(frozenset(given), given)
                object.__setattr__(device, "__pydantic_fields_set__", shared)  # -730 bytes each
                self._device_checks(row, device)
                devices[device.device_alias] = device
        self._device_rows = first_row
        return devices

    _device_rows: dict[str, RawRow]
    _valid_devices: tuple[DeviceConfig, ...]

    def _device_checks(self, row: RawRow, device: DeviceConfig) -> None:
        if device.device is not None and device.transport != "serial":
            via = "url" if device.url is not None else "ip + port"
            self.warnings.append(
                row.problem(
                    f"both device and {via} given: using {via}, device is ignored", "device"
                )
            )
        if device.password is not None:
            self.warnings.append(
                row.problem(
                    "plain password in the configuration file; prefer password_env "
                    "or password_file",
                    "password",
                )
            )
        try:
            self.options[device.device_alias] = (device, device.readout_options())
        except ConfigError as exc:
            self.problems.append(row.problem(str(exc)))

    def _signals(self) -> list[SignalConfig]:
        signals: list[SignalConfig] = []
        first_row: dict[tuple[str, str], RawRow] = {}
        known = self._device_rows
        valid_aliases = {d.device_alias for d in self._valid_devices}
        # Signals of many devices differ only in device_alias: validate each distinct rest once.
        done: dict[tuple[tuple[str, object], ...], SignalConfig] = {}
        for row in self.tables.signals:
            fields = row.fields
            row.fields = {}  # only its location is needed later: free the raw values as we go
            signal = self._signal(row, fields, valid_aliases, done)
            device_alias = _alias_key(fields.get("device_alias"))
            signal_alias = _alias_key(fields.get("signal_alias"))
            if device_alias is not None and device_alias not in known:
                names = ", ".join(sorted(known)[:10]) or "none"
                self.problems.append(
                    row.problem(f"no device {device_alias!r}; devices: {names}", "device_alias")
                )
                continue
            if device_alias is not None and signal_alias is not None:
                key = (device_alias, signal_alias)
                if key in first_row:
                    self.problems.append(
                        row.problem(
                            f"{signal_alias!r} is already used for device {device_alias!r} "
                            f"by {first_row[key].describe()}",
                            "signal_alias",
                        )
                    )
                    continue
                first_row[key] = row
            if isinstance(signal, SignalConfig):
                if signal.number_type not in SCALED_TYPES and (
                    signal.multiply != 1 or signal.add != 0
                ):
                    self.warnings.append(
                        row.problem(
                            f"multiply/add are ignored for {signal.number_type.value}",
                            "multiply" if signal.multiply != 1 else "add",
                        )
                    )
                signals.append(signal)
        self._signal_rows = first_row
        return signals

    def _signal(
        self,
        row: RawRow,
        fields: dict[str, object],
        valid_aliases: set[str],
        done: dict[tuple[tuple[str, object], ...], SignalConfig],
    ) -> SignalConfig | None:
        """The validated signal of ``row``, or ``None`` after recording its problems.

        A row naming a valid device by exactly its alias reuses the model of an earlier
        row equal in every other field (validation does not depend on the device).
        """
        alias = fields.get("device_alias")
        if not isinstance(alias, str) or alias not in valid_aliases:
            return self._validate(row, SignalConfig, fields)  # type: ignore[no-any-return]
        rest = tuple((k, v) for k, v in fields.items() if k != "device_alias")
        try:
            earlier = done.get(rest)
        except TypeError:  # an unhashable value (a TOML array or table): no reuse
            return self._validate(row, SignalConfig, fields)  # type: ignore[no-any-return]
        if earlier is not None:
            return _for_device(earlier, alias)
        result: SignalConfig | None = self._validate(row, SignalConfig, fields)
        if result is not None:
            done[rest] = result
        return result

    def _section(self, table: str, model: type[BaseModel]) -> BaseModel | None:
        """An output section, or ``None`` when it is absent (the output is off) or invalid."""
        row = self.tables.single.get(table)
        if row is None:
            return None
        result: BaseModel | None = self._validate(row, model, row.fields)
        return result

    def _signal_checks(
        self, sections: Mapping[str, BaseModel | None], signals: list[SignalConfig]
    ) -> None:
        """Cross-signal checks of every configured output section."""
        for name, check in SIGNAL_CHECKS.items():
            section = sections.get(name)
            columns = COLUMNS_CHECKED_WITHOUT_SECTION.get(name, ())
            if (
                section is None
                and name not in self.tables.single
                and any(getattr(s, c) is not None for s in signals for c in columns)
            ):
                section = OUTPUT_SECTIONS[name]()
            if section is None:
                continue
            for problem in check(section, signals):
                row = self._signal_rows[problem.key]
                self.problems.append(row.problem(problem.message, problem.field))

    _signal_rows: dict[tuple[str, str], RawRow]

    def _single(self, table: str, model: type[BaseModel]) -> BaseModel | None:
        row = self.tables.single.get(table)
        if row is None:
            return model()
        result: BaseModel | None = self._validate(row, model, row.fields)
        return result

    def _push_problems(
        self, devices: Mapping[str, DeviceConfig], signals: list[SignalConfig]
    ) -> None:
        """A push meter (type D) needs a line of its own and cannot be asked anything."""
        ports: dict[str, list[str]] = {}
        for device in devices.values():
            if device.enable:
                ports.setdefault(device.port_key, []).append(device.device_alias)
        for device in devices.values():
            if not device.enable or device.type != "D":
                continue
            row = self._device_rows[device.device_alias]
            sharing = [a for a in ports[device.port_key] if a != device.device_alias]
            if sharing:
                self.problems.append(
                    row.problem(
                        f"a push meter (type D) needs a line of its own; "
                        f"{device.url_or_port} is also used by {', '.join(sharing)}",
                        "type",
                    )
                )
        push = {d.device_alias for d in devices.values() if d.type == "D"}
        for signal in signals:
            if signal.device_alias in push and signal.read_by == "command":
                row = self._signal_rows[signal.key]
                self.problems.append(
                    row.problem("a push meter (type D) cannot be read by command", "read_by")
                )

    def _dlms_problems(
        self, devices: Mapping[str, DeviceConfig], signals: list[SignalConfig]
    ) -> None:
        """Signals of a mode E / HDLC meter name OBIS codes and are read in one association;
        ``cosem_class`` and ``attribute`` belong to such signals only."""
        for signal in signals:
            device = devices.get(signal.device_alias)
            if device is None:
                continue
            row = self._signal_rows[signal.key]
            if device.type in ("E", "HDLC"):
                try:
                    parse_obis(signal.tag_job_todo)
                except ConfigError:
                    self.problems.append(
                        row.problem(
                            f"a type {device.type} meter is read by OBIS code: "
                            "A-B:C.D.E*F (1-0:1.8.0*255) or C.D.E (1.8.0)",
                            "tag_job_todo",
                        )
                    )
                if signal.read_by == "command":
                    self.problems.append(
                        row.problem(
                            f"a type {device.type} meter (DLMS/COSEM) has no programming mode; "
                            "every signal is read in its association",
                            "read_by",
                        )
                    )
            else:
                for name in ("cosem_class", "attribute"):
                    if name in signal.model_fields_set:
                        self.problems.append(
                            row.problem(
                                f"{name} is for mode E / HDLC meters (type E or HDLC) only",
                                name,
                            )
                        )

    def _password_file_warnings(self, devices: Mapping[str, DeviceConfig]) -> None:
        for device in devices.values():
            path = device.password_file
            if path is not None and not password_file_is_private(path):
                self.warnings.append(
                    self._device_rows[device.device_alias].problem(
                        "password_file is readable by group or others; chmod 600 it",
                        "password_file",
                    )
                )

    def _shared_bus_warnings(self, devices: Mapping[str, DeviceConfig]) -> None:
        rows = self._device_rows
        by_port: dict[str, list[DeviceConfig]] = {}
        for device in devices.values():
            if not device.enable:
                continue
            by_port.setdefault(device.port_key, []).append(device)
        for port, group in by_port.items():
            if len(group) < 2:
                continue
            others = ", ".join(d.device_alias for d in group)
            seen: dict[str, str] = {}
            for device in group:
                row = rows[device.device_alias]
                if device.address == "":
                    self.warnings.append(
                        row.problem(
                            f"serialnumber 0 sends /?! on {port}, shared with {others}: "
                            "every meter on the bus may answer",
                            "serialnumber",
                        )
                    )
                elif device.address in seen:
                    self.warnings.append(
                        row.problem(
                            f"serialnumber {device.serialnumber} is also used by "
                            f"{seen[device.address]} on {port}",
                            "serialnumber",
                        )
                    )
                else:
                    seen[device.address] = device.device_alias


def _in_file_order(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """Stable sort by file (first appearance) and line; problems without a line keep
    their place relative to each other."""
    files: dict[str, int] = {}
    for problem in problems:
        files.setdefault(problem.file, len(files))
    return sorted(problems, key=lambda p: (files[p.file], p.line or 0))


def _alias_key(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return cells.as_text(value)
    return None


def _error_text(field: str | None, error: Any) -> str:
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "missing":
        return "required field is missing"
    if field is None:
        return message
    value = error.get("input")
    if (
        field in SECRET_FIELDS
        or field in _QUOTED_FIELDS
        or not isinstance(value, str | int | float | bool)
    ):
        return message
    return f"got {value!r}; {message}"


def _for_device(signal: SignalConfig, alias: str) -> SignalConfig:
    """``signal.model_copy(update={"device_alias": alias})``, made faster and smaller.

    Frozen models never change their set of given fields (which includes
    ``device_alias``): the copy shares it (-470 bytes each). Its fields are set
    one by one, in field order, so CPython keeps them in a key-sharing
    instance dict: 300 bytes instead of the 830 of the dict pydantic builds.
    """
    copy = _new_signal(SignalConfig)
    for name, value in signal.__dict__.items():
        _set(copy, name, value)
    _set(copy, "device_alias", alias)
    _set(copy, "__pydantic_extra__", None)
    _set(copy, "__pydantic_fields_set__", signal.model_fields_set)
    _set(copy, "__pydantic_private__", None)
    return copy


_new_signal = SignalConfig.__new__
_set = object.__setattr__
