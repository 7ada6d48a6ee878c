"""The PostgreSQL readings table: what the ``[postgres]`` output and ``obisgate sink
postgres`` store, and ``obisgate history --dsn`` reads.

:mod:`~obisgate.gateway.readings.message` writes one readout as a JSON document (the MQTT
``json`` payload, a ``[postgres]`` outbox row); :mod:`~obisgate.gateway.readings.rows` reads
it back into rows, cleaned by :mod:`~obisgate.gateway.readings.clean`, and refuses what
cannot be stored; :mod:`~obisgate.gateway.readings.schema` is the DDL (monthly partitions,
dead letters); :mod:`~obisgate.gateway.readings.writer` stores batches (COPY, ``ON CONFLICT
DO NOTHING``, dead letters for refused rows); :mod:`~obisgate.gateway.readings.reader`
reads one signal back. The writer and reader need the ``postgres`` extra (asyncpg,
imported lazily); the rest is pure.
"""
