"""The ``[http]`` output: HTTP API, Prometheus metrics and the live web view."""
