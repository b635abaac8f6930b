"""The HTTP side every service shares: the app factory, health, error shapes, the admin
token, and the dead-letter routes."""
