"""What the commands print: tables, JSON, messages and errors (``output``), and the progress
of long work (``progress``).

Outside korrel8/cli: the ingest commands, which korrel8.cli mounts, import it too, and an
import of korrel8.cli from them would be circular.
"""
