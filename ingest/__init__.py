"""Ingest: the MQTT subscriber and the validation pipeline in front of twin, history and rules."""
