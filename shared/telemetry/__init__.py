"""What a running service tells an operator: Prometheus metrics (and, with the tracing
module, OpenTelemetry spans). Used by every layer above; knows no broker and no database."""
