"""The environment variable prometheus-client's multiprocess mode reads, without importing it."""

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
