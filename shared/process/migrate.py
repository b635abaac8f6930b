"""`make migrate`: bring each service's database up to its code's migrations.

    python -m shared.process.migrate                    # every service
    python -m shared.process.migrate order inventory    # some
    python -m shared.process.migrate --check            # say where each stands; 1 if behind
    python -m shared.process.migrate order --revision "what changed"   # write the next one

Each service's database is `<SERVICE>_DATABASE_URL` (`ORDER_DATABASE_URL`, ...), else
`DATABASE_URL` when one service is named, else its default (`sqlite:///var/<service>.db`,
under `VAR_DIR`), as the service itself would use. A database made before there were
migrations is adopted (recorded at the first revision, then upgraded, then checked
against the code). `--revision` writes the next revision file with what autogenerate
finds between the code's tables and a database that is at the head (an empty one is
brought there first: `DATABASE_URL=sqlite:///var/scratch.db`).
"""

import argparse
import asyncio
import importlib
import os
import sys
from typing import ClassVar

from shared.persistence.database import Database
from shared.persistence.migrations import Migrations
from shared.process.logs import configure_logging
from shared.process.settings import ServiceSettings

SERVICES = ("order", "inventory", "notification", "audit")


def migrations_of(service: str) -> Migrations:
    module = importlib.import_module(f"{service}_service.adapters.migrations")
    found: Migrations = module.MIGRATIONS
    return found


def database_url(service: str, *, alone: bool) -> str:
    named = os.environ.get(f"{service.upper()}_DATABASE_URL")
    if named:
        return named

    class Settings(ServiceSettings):
        service_name: ClassVar[str] = service
        default_port: ClassVar[int] = 0

    settings = Settings()
    if settings.database_url and not alone:
        raise SystemExit(
            "DATABASE_URL names one database: name one service, or give each its own "
            "(ORDER_DATABASE_URL, INVENTORY_DATABASE_URL, ...)"
        )
    return settings.resolved_database_url


async def run(services: list[str], *, check: bool, revision: str | None) -> int:
    behind = 0
    for service in services:
        migrations = migrations_of(service)
        url = database_url(service, alone=len(services) == 1)
        db = Database(url)
        try:
            if revision is not None:
                await db.on_connection(migrations.migrate)
                path = await db.on_connection(
                    lambda conn, m=migrations: m.revision(conn, revision)  # type: ignore[misc]
                )
                print(f"{service}: wrote {path}")
            elif check:
                state = await db.on_connection(migrations.state)
                print(state.describe())
                behind += state.kind in ("behind", "unversioned")
            else:
                before, after = await db.on_connection(migrations.migrate)
                change = "up to date" if before == after else f"from {before.kind}"
                print(f"{after.describe()}: {change}")
        finally:
            await db.dispose()
    return 1 if behind else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.process.migrate")
    parser.add_argument("services", nargs="*", metavar="SERVICE", help=", ".join(SERVICES))
    parser.add_argument("--check", action="store_true", help="say where each database stands")
    parser.add_argument("--revision", metavar="MESSAGE", help="write the next revision")
    args = parser.parse_args(argv)
    services = list(args.services) or list(SERVICES)
    if unknown := [s for s in services if s not in SERVICES]:
        parser.error(f"no service {', '.join(unknown)} (services: {', '.join(SERVICES)})")
    if args.revision is not None and len(services) != 1:
        parser.error("--revision: name one service")
    configure_logging("migrate", os.environ.get("LOG_LEVEL", "WARNING"), "text")
    return asyncio.run(run(services, check=args.check, revision=args.revision))


if __name__ == "__main__":
    sys.exit(main())
