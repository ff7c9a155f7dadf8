"""Alembic revisions of the operational store; file names start with the revision id."""
