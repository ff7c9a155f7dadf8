"""History stores: DuckDB (embedded default), InfluxDB over its HTTP API, and a disk spool."""
