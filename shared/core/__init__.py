"""What a handler sees: typed events, the handler registry, the unit of work it works in,
and group commit. Nothing here knows a broker or a database."""
