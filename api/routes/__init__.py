"""Routers of the HTTP API, one module per concern; each is built from the `ApiContext` it serves."""
