"""Each service's schema, made and changed by its own Alembic migrations
(`<service>/adapters/migrations/versions/`), on SQLite and PostgreSQL alike.

A service prepares its database when it starts (`Migrations.prepare`):
- empty: it builds the schema through its migrations, so a fresh clone, a test or a new
  container needs no other step;
- at this code's head revision: nothing to do;
- behind (an older revision, or tables made before there were migrations): it refuses to
  start and says what to run (`make migrate`; in compose the one-shot `migrate` step). A
  schema changes by an operator's step, never behind the back of the instances still running
  the code before it;
- ahead (a revision this code does not know: a later release migrated it): it starts and
  says so. Migrations that older code must survive only add (expand); whatever removes
  (contract) ships once no older code runs (README, "Changing the schema").

Instances starting together take turns: a PostgreSQL advisory lock held for the whole step,
SQLite's writer lock (the step is one BEGIN IMMEDIATE transaction there).
"""

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, inspect, text

log = logging.getLogger(__name__)

SCRIPTS = Path(__file__).with_name("schema_scripts")  # env.py and the revision template
SCHEMA_LOCK = 0x5C4E3A  # any constant shared by every instance of every service
VERSION_TABLE = "alembic_version"

StateKind = Literal["empty", "unversioned", "behind", "current", "ahead"]


class SchemaBehind(RuntimeError):
    """The database's schema is older than this code: it must be migrated first."""


@dataclass(frozen=True)
class SchemaState:
    service: str
    current: tuple[str, ...]  # the revision(s) recorded in the database
    head: str  # the newest revision this code knows
    has_tables: bool  # any table of the service's present
    known: bool  # every recorded revision is one of this code's

    @property
    def kind(self) -> StateKind:
        if not self.current:
            return "unversioned" if self.has_tables else "empty"
        if self.current == (self.head,):
            return "current"
        return "behind" if self.known else "ahead"

    def describe(self) -> str:
        at = ", ".join(self.current) or "no revision"
        return f"{self.service} database: {self.kind} (at {at}; this code's head is {self.head})"


class Migrations:
    """The migrations of one service: its tables as the code declares them (`metadata`,
    what autogenerate compares with) and the folder of its revisions."""

    def __init__(self, service: str, metadata: MetaData, versions: Path) -> None:
        self.service = service
        self.metadata = metadata
        self.versions = versions

    def config(self, conn: Connection | None = None) -> Config:
        config = Config()
        config.set_main_option("script_location", str(SCRIPTS))
        config.set_main_option("version_locations", str(self.versions))
        # Revision files are modules of the service's package: names Python can import.
        config.set_main_option("file_template", "m%%(rev)s_%%(slug)s")
        config.set_main_option("truncate_slug_length", "40")
        config.set_main_option("path_separator", "os")
        config.attributes["connection"] = conn
        config.attributes["metadata"] = self.metadata
        return config

    def script(self) -> ScriptDirectory:
        return ScriptDirectory.from_config(self.config())

    @property
    def head(self) -> str:
        head = self.script().get_current_head()
        assert head is not None, f"{self.service}: no migrations in {self.versions}"
        return head

    @property
    def base(self) -> str:
        (base,) = self.script().get_bases()
        return base

    def state(self, conn: Connection) -> SchemaState:
        """Where the database stands (reads only)."""
        current = tuple(MigrationContext.configure(conn).get_current_heads())
        present = set(inspect(conn).get_table_names()) - {VERSION_TABLE}
        script = self.script()
        known = all(_known(script, revision) for revision in current)
        state = SchemaState(
            self.service,
            current,
            self.head,
            bool(present & set(self.metadata.tables)),
            known,
        )
        _end_read(conn)
        return state

    def prepare(self, conn: Connection) -> SchemaState:
        """At a service's start: build an empty database through the migrations; refuse a
        schema that is behind (SchemaBehind, saying what to run); accept a newer one."""
        with self._turn(conn):
            state = self.state(conn)
            if state.kind == "empty":
                self._upgrade(conn, "head")
                log.info("%s database was empty: built through its migrations", self.service)
                return self.state(conn)
            if state.kind in ("behind", "unversioned"):
                raise SchemaBehind(
                    f"the {state.describe()}: migrate it before starting the service: "
                    f"`make migrate` (python -m shared.process.migrate {self.service}, with "
                    f"{self.service.upper()}_DATABASE_URL or DATABASE_URL naming this database), "
                    "or in compose the one-shot migrate step (docker compose run --rm migrate)"
                )
            if state.kind == "ahead":
                log.warning(
                    "the %s: a later release migrated it; this code runs on it (migrations "
                    "that older code must survive only add)",
                    state.describe(),
                )
            return state

    def migrate(self, conn: Connection) -> tuple[SchemaState, SchemaState]:
        """Bring the database to this code's head (`make migrate`). A database made before
        there were migrations is adopted: recorded at the first revision, then upgraded,
        then checked against the code (anything left over is reported, not guessed at)."""
        with self._turn(conn):
            before = self.state(conn)
            if before.kind == "unversioned":
                self._stamp(conn, self.base)
            if before.kind in ("empty", "unversioned", "behind"):
                self._upgrade(conn, "head")
            after = self.state(conn)
            if before.kind == "unversioned":
                left = self.differences(conn)
                if left:
                    raise RuntimeError(
                        f"{self.service}: a database made before migrations was upgraded, "
                        f"but it still differs from the code: {left}"
                    )
            return before, after

    def differences(self, conn: Connection) -> list[Any]:
        """What autogenerate finds between the database and the code's tables ([]: none)."""
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "target_metadata": self.metadata,
                "include_object": include_object_for(conn.dialect.name),
            },
        )
        found = compare_metadata(context, self.metadata)
        _end_read(conn)
        return list(found)

    def revision(self, conn: Connection, message: str, *, autogenerate: bool = True) -> Path:
        """Write the next revision file, numbered after the head, with what autogenerate
        finds between the database (which must be at head) and the code's tables."""
        number = int(re.sub(r"\D", "", self.head) or 0) + 1
        config = self.config(conn)
        script = command.revision(
            config, message, autogenerate=autogenerate, rev_id=f"{number:04d}"
        )
        assert script is not None and not isinstance(script, list)
        return Path(script.path)

    def upgrade(self, conn: Connection, revision: str = "head") -> None:
        """Upgrade to `revision` (the head unless said), taking turns with other instances."""
        with self._turn(conn):
            self._upgrade(conn, revision)

    def _upgrade(self, conn: Connection, revision: str) -> None:
        command.upgrade(self.config(conn), revision)
        _end_read(conn)

    def _stamp(self, conn: Connection, revision: str) -> None:
        command.stamp(self.config(conn), revision)
        _end_read(conn)

    @contextmanager
    def _turn(self, conn: Connection) -> Iterator[None]:
        """One instance at a time: an advisory lock for the session on PostgreSQL (held
        across the migrations' own transactions, and their autocommit blocks); on SQLite,
        one write transaction around everything (the database's BEGIN IMMEDIATE)."""
        if conn.dialect.name != "postgresql":
            with conn.begin():
                yield
            return
        # Tried, not waited for: a session waiting for the lock inside a statement holds a
        # snapshot, which CREATE INDEX CONCURRENTLY in the holder's migration would wait for.
        while not conn.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": SCHEMA_LOCK}
        ).scalar():
            conn.commit()
            time.sleep(0.2)
        conn.commit()
        try:
            yield
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK})
            conn.commit()


def configure_context(context: Any) -> None:
    """The body of schema_scripts/env.py: run the migrations on the connection given."""
    config = context.config
    conn: Connection = config.attributes["connection"]
    context.configure(
        connection=conn,
        target_metadata=config.attributes["metadata"],
        transaction_per_migration=True,
        compare_type=True,
        render_as_batch=True,  # SQLite cannot ALTER most things: autogenerate copies tables
        include_object=include_object_for(conn.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


def include_object_for(dialect: str) -> Any:
    """Autogenerate's filter: an index the code declares for another dialect only
    (`Index(...).ddl_if(dialect="postgresql")`) is not expected here."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        wanted = getattr(condition, "dialect", None)
        return not (not reflected and wanted is not None and wanted != dialect)

    return include


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:
        return False


def _end_read(conn: Connection) -> None:
    """End the transaction a read began on PostgreSQL (SQLAlchemy begins one on first
    use), so the next step starts its own; within SQLite's one transaction, nothing."""
    if conn.dialect.name == "postgresql" and conn.in_transaction():
        conn.commit()
