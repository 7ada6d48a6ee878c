"""The relay between ``run --workers N`` processes: each worker streams its update batches
and counters to the supervisor, which serves them (HTTP, Modbus, IEC 104, OPC UA) once.

:mod:`.codec` is the sans-IO wire format (frames in, messages out), :mod:`.sender` the
worker's side (an :class:`~obisgate.gateway.outputs.base.Output` that never waits for
the supervisor) and :mod:`.hub` the supervisor's side (a Unix socket server and the
view of every worker it builds).
"""
