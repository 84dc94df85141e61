"""The HTTP API (FastAPI) and, later, the navigator dashboard."""
