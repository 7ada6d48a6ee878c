"""The ``[iec104]`` output: obisgate's own IEC 60870-5-104 outstation."""
