"""The REST API and MCP server; who may ask and what each caller sees (auth)."""
