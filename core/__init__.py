"""Shared foundations: the MQTT contract, settings, errors and records.  Imports nothing of SafeTwin."""
