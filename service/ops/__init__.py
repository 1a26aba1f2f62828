"""Operating the service: Prometheus metrics (``instruments`` counted where things happen,
``collector`` computed from the database at scrape time, ``exposition`` for ``GET /metrics``,
also with several uvicorn processes), one structured log line per request (``access``,
``logs``) and online SQLite backups (``backup``)."""

# names the directory of the processes' metric files; read when prometheus_client is first
# imported, so ``optrack serve`` sets it before anything imports the library
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
