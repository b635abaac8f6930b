"""Mechanisms shared by every service: envelope, topology, broker, consumer runtime,
inbox and outbox, settings, database and logging helpers. No domain rules live here."""
