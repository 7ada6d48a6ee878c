"""The one list of network outputs: :data:`OUTPUT_SPECS`.

This is the composition layer's registry. Everything that must know every
output reads this list: the configuration loader (sections, signal columns,
their checks), ``obisgate check`` (extras, warnings, ``--show-map``), the
factory that builds the outputs, the sharded configuration and the
configuration reference. An output's section name appears nowhere else
outside its own package.
"""

from __future__ import annotations

from typing import Any

from obisgate.gateway.outputs.http.spec import HTTP
from obisgate.gateway.outputs.iec104.spec import IEC104
from obisgate.gateway.outputs.modbus.spec import MODBUS
from obisgate.gateway.outputs.mqtt.spec import MQTT
from obisgate.gateway.outputs.opcua.spec import OPCUA
from obisgate.gateway.outputs.postgres.spec import POSTGRES
from obisgate.gateway.outputs.spec import OutputSpec

__all__ = ["OUTPUT_SPECS"]

#: Every network output, in the order of its section in the reference and of its start.
OUTPUT_SPECS: tuple[OutputSpec[Any], ...] = (MQTT, HTTP, MODBUS, IEC104, OPCUA, POSTGRES)
