"""Where signal updates go: the :class:`Output` contract, the fan-out, one package per output.

Built in: JSON lines (:mod:`.jsonl`), the live table (:mod:`.table`) and the
SQLite history (:mod:`.history`). Each network output is a package with an
:class:`~.spec.OutputSpec` (``mqtt/spec.py`` ...), listed once in
:mod:`.registry`; its module and optional library are imported only when the
configuration turns it on (:mod:`.factory`, :mod:`.extras`). Every output reports
an :class:`~.health.OutputHealth`.
"""

from obisgate.gateway.outputs.base import Fanout, Output
from obisgate.gateway.outputs.history.output import HistoryOutput
from obisgate.gateway.outputs.jsonl import JsonLinesOutput
from obisgate.gateway.outputs.table import TableOutput

__all__ = ["Fanout", "HistoryOutput", "JsonLinesOutput", "Output", "TableOutput"]
