"""``python -m korrel8.cli``: the korrel8 command."""

from korrel8.cli import app

app()
