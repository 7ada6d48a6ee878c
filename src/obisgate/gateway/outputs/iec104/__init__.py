"""The ``[iec104]`` output: an IEC 60870-5-104 outstation (c104, GPL-3.0 extra)."""
