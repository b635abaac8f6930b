"""The inventory service's schema: its tables (adapters/tables.py) as its migrations make them,
one revision per change, in versions/ (shared.persistence.migrations)."""

from pathlib import Path

from inventory_service.adapters.tables import metadata
from shared.persistence.migrations import Migrations

MIGRATIONS = Migrations("inventory", metadata, Path(__file__).with_name("versions"))
