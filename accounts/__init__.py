"""Accounts and access: users, roles and their permissions, scopes, tokens, API keys, the audit log."""
