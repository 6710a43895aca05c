"""Telemetron agent-side instrumentation: OpenTelemetry spans, metrics and work-in-progress records for multi-agent LLM apps."""
