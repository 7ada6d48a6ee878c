"""The ``[modbus]`` output: a read-only Modbus TCP server of the latest values."""
