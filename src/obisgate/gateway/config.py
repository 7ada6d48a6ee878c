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
  topical after ``timeout_ms`` of silence), ``t2`` [300] ms (200-1500) before acknowledging in mode C,
  ``timeout_ms`` [2500] for the first byte of an answer, ``inter_byte_timeout_ms``
  [1500], ``poll_delay_ms`` [200] before sending anything, ``scan_rate_ms``
  [10000] (100 ms to 1 day) between readouts, ``total_timeout_ms`` [the scan
  rate, at least 10000] (100 ms to 1 day) limit for one whole poll (opening,
  retries, readout, programming session): when it passes the poll is
  abandoned, the port released and ``_status`` is ``timeout``.
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from obisgate.gateway.config_build import build_config, table_fields
from obisgate.gateway.config_files import ConfigFileError, ConfigProblem, read_tables
from obisgate.gateway.config_models import (
    DEFAULT_HISTORY_FILE,
    DeviceConfig,
    GatewayConfig,
    OutputConfig,
    SignalConfig,
    StorageConfig,
)
from obisgate.gateway.outputs.registry import OUTPUT_SPECS
from obisgate.gateway.outputs.spec import OutputSpec
from obisgate.gcpause import paused_gc

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


def load_config(
    path: str | os.PathLike[str], specs: Sequence[OutputSpec[Any]] = OUTPUT_SPECS
) -> GatewayConfig:
    """Load and validate a gateway configuration.

    Args:
        path: a TOML file (the default for any name that is not ``.xlsx``,
            ``.xlsm`` or ``.csv``), an Excel workbook, one ``.csv`` file of a
            ``*devices*``/``*signals*`` pair, or a directory holding
            ``devices.csv`` and ``signals.csv`` (sections: sheets or files
            named after them, see :mod:`obisgate.gateway.config_files`).
        specs: the outputs whose sections and signal columns the configuration
            may hold (every output of obisgate by default).

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
        tables = read_tables(source, table_fields(specs))
        return build_config(tables, specs)
