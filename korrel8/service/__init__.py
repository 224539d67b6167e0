"""``korrel8 serve``: scheduled ingestion, incremental rules, /healthz and /metrics.

jobs.py decides what runs (one job per configured source and cluster), telemetry.py keeps
the Prometheus metrics and health state, httpd.py answers HTTP, service.py schedules and
stops it all, cli.py is the command.
"""
