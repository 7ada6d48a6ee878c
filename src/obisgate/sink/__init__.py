"""``obisgate sink``: consumers of the gateways' MQTT history that store it elsewhere.

:mod:`~obisgate.sink.consumer` is the MQTT side (owned history partitions in a
persistent session, batches, acknowledgements after commit); the PostgreSQL side
(rows, cleaning, schema, writer with dead letters) is :mod:`obisgate.gateway.readings`,
shared with the gateway's ``[postgres]`` output. Everything here needs the
``postgres`` extra.
"""

from __future__ import annotations

from obisgate.errors import ObisgateError

__all__ = ["SinkError"]


class SinkError(ObisgateError):
    """The sink cannot go on: the broker refuses the login, or the gateways publish
    another partition count. Retrying would not help.

    The message names the server (never a password).
    """

    kind = "sink error"
