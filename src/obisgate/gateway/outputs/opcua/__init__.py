"""The ``[opcua]`` output: an OPC UA server of the latest values (asyncua extra)."""
