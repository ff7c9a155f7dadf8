"""The HTTP API (FastAPI): twin, live state, history, ingest diagnostics."""
