"""Rule engine: threshold, duration, exposure, combined and anomaly rules over twin readings."""
