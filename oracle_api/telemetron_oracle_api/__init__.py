"""oracle_api: receives OTLP, stores traces, derives live system state, serves it."""
