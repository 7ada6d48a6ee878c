"""Where signal updates go: the :class:`Output` interface, the fan-out, one module per destination.

Built in: JSON lines (:mod:`.jsonl`), the live table (:mod:`.table`) and the
SQLite history (:mod:`.history`). Destinations with optional dependencies
(MQTT, HTTP, Modbus, IEC 104) live in their own modules and are imported only
when the configuration asks for them (:mod:`.extras`).
"""

from obisgate.gateway.outputs.base import Fanout, Output
from obisgate.gateway.outputs.history.output import HistoryOutput
from obisgate.gateway.outputs.jsonl import JsonLinesOutput
from obisgate.gateway.outputs.table import TableOutput

__all__ = ["Fanout", "HistoryOutput", "JsonLinesOutput", "Output", "TableOutput"]
