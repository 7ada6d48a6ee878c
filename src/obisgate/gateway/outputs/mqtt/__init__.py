"""The ``[mqtt]`` output: durable outbox, broker connection, Home Assistant discovery."""
