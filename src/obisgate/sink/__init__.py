"""``obisgate sink``: consumers of the gateways' MQTT readings that store them elsewhere.

:mod:`~obisgate.sink.postgres` writes them into PostgreSQL (``obisgate sink
postgres``); :mod:`~obisgate.sink.rows` turns one MQTT message into table rows,
:mod:`~obisgate.sink.consumer` is the MQTT side (shared subscription, batches,
acknowledgements after commit), :mod:`~obisgate.sink.reader` reads the table back
for ``obisgate history --dsn``. Everything here needs the ``postgres`` extra.
"""

from __future__ import annotations

from obisgate.errors import ObisgateError

__all__ = ["SinkError"]


class SinkError(ObisgateError):
    """The sink cannot start: the database or the broker is unreachable or refuses us.

    The message names the server (never a password).
    """

    kind = "sink error"
