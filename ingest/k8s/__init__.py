"""The Kubernetes ingester: the API client, the kinds listed, object-to-row conversion, the
one-shot sync and the watch."""
