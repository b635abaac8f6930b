"""Alembic's environment for every service: run by `shared.persistence.migrations` with the
connection and the service's tables in the config's attributes (no alembic.ini, no URL
here)."""

from alembic import context

from shared.persistence.migrations import configure_context

configure_context(context)
