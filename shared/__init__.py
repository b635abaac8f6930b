"""Mechanisms shared by every service, in layers; a layer imports only the ones below it.

- `contract`: what travels between services (envelope, event schemas, topology names,
  header names). No I/O.
- `core`: what a handler sees (events, handler registry, unit of work, group commit).
  No broker, no database.
- `persistence`: the database (engines on a database thread, inbox, outbox storage, the
  SQL unit of work).
- `messaging`: the broker (connection, consumer, failure policy, outbox relay, dead
  letters). `persistence` and `messaging` do not import each other.
- `web`: the HTTP side (app factory, health, narrow dependencies, dead-letter routes).
- `process`: how a service runs (runtime wiring, settings, logging, the dev runner, CLIs).

No domain rules live here.
"""
