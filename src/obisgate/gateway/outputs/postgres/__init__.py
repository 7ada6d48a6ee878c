"""The ``[postgres]`` output: every readout into PostgreSQL through a durable outbox (the billing path)."""
