"""The breaking-change gate: every (event type, version) the code defines, against the
schemas of the last release (`docs/schemas/released/`). It fails, with a report naming the
event, the version and the field, when:

- a released version changes incompatibly (the rules: `shared.contract.compatibility`);
- a released version is gone from the code (its messages, still in queues and dead-letter
  queues, could no longer be read);
- a new version of a released type has no upcaster from the version before it
  (`shared.contract.upcasting.UPCASTERS`): consumers upgraded first would dead-letter the
  messages old producers still send.

A breaking change therefore passes only as a new version with its upcaster. A new type needs
none; a compatible change or a new version is reported and passes.

    python -m shared.contract.breaking_changes            # the gate: exit 1 when it fails
    python -m shared.contract.breaking_changes --release  # the current schemas become the
                                                          # release (only when the gate passes)
"""

import argparse
import json
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.contract.compatibility import Change, compare
from shared.contract.events import SCHEMAS
from shared.contract.schemas import file_name, json_schema
from shared.contract.upcasting import UPCASTERS

ROOT = Path(__file__).resolve().parents[2]
RELEASED = Path("docs/schemas/released")

Key = tuple[str, str]  # (event type, version)


@dataclass(frozen=True)
class Verdict:
    event_type: str
    version: str
    status: str  # unchanged | compatible | new | BREAKING | REMOVED | NO UPCASTER
    changes: list[Change] = field(default_factory=list)
    note: str = ""

    @property
    def fails(self) -> bool:
        return self.status.isupper()


def judge(
    released: Mapping[Key, Mapping[str, Any]],
    current: Mapping[Key, Mapping[str, Any]],
    upcasters: Collection[Key] = frozenset(UPCASTERS),
) -> list[Verdict]:
    verdicts = []
    for key in sorted(released.keys() | current.keys(), key=lambda k: (k[0], int(k[1]))):
        event_type, version = key
        if key not in current:
            note = "released, and gone from the code: its messages could no longer be read"
            verdicts.append(Verdict(event_type, version, "REMOVED", note=note))
        elif key not in released:
            verdicts.append(_new(event_type, version, released, upcasters))
        else:
            changes = compare(released[key], current[key])
            if any(change.breaking for change in changes):
                status = "BREAKING"
            else:
                status = "compatible" if changes else "unchanged"
            verdicts.append(Verdict(event_type, version, status, changes))
    return verdicts


def _new(
    event_type: str, version: str, released: Collection[Key], upcasters: Collection[Key]
) -> Verdict:
    if not any(known == event_type for known, _ in released):
        return Verdict(event_type, version, "new", note="a new event type")
    previous = str(int(version) - 1)
    if (event_type, previous) in upcasters:
        return Verdict(event_type, version, "new", note=f"a new version, upcast from v{previous}")
    note = (
        f"a new version of a released type, with no upcaster from v{previous}: add "
        f"UPCASTERS[({event_type!r}, {previous!r})] in shared/contract/upcasting.py"
    )
    return Verdict(event_type, version, "NO UPCASTER", note=note)


def report(verdicts: Sequence[Verdict], released_from: Path = RELEASED) -> str:
    lines = [
        f"Breaking-change gate: the event schemas of the code against the last release "
        f"({released_from}/)",
        "",
    ]
    for verdict in verdicts:
        name = f"{verdict.event_type} v{verdict.version}"
        lines.append(f"  {name:<20} {verdict.status}{': ' + verdict.note if verdict.note else ''}")
        lines += [f"      {change}" for change in verdict.changes]
    failed = [v for v in verdicts if v.fails]
    lines.append("")
    if failed:
        lines += [
            f"FAILED: {len(failed)} published version(s) would break their consumers.",
            "- A narrowed schema makes a consumer (upgraded first) refuse what old producers",
            "  still send and queues and dead-letter queues still hold.",
            "- A field removed, made optional or widened breaks the code of the consumers",
            "  written for it.",
            "A published version never changes incompatibly: make the change a new version,",
            'with its upcaster from the one before (README, "Changing an event").',
        ]
    else:
        lines.append("PASSED: every released version still serves its consumers.")
    return "\n".join(lines) + "\n"


def current_schemas() -> dict[Key, dict[str, Any]]:
    return {(m.event_type, m.version): json_schema(m) for m in SCHEMAS.models()}


def released_schemas(directory: Path) -> dict[Key, dict[str, Any]]:
    found: dict[Key, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        event_type, _, version = path.name.removesuffix(".json").rpartition(".v")
        if not event_type or not version.isdigit():
            raise ValueError(f"{path}: a released schema is named <Type>.v<version>.json")
        found[(event_type, version)] = json.loads(path.read_text(encoding="utf-8"))
    return found


def release(directory: Path, schemas: Mapping[Key, Mapping[str, Any]]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for (event_type, version), schema in schemas.items():
        path = directory / file_name(event_type, version)
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.contract.breaking_changes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--release", action="store_true", help="make the current schemas the release"
    )
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the repository (default: this one)"
    )
    args = parser.parse_args(argv)
    directory = args.root / RELEASED
    verdicts = judge(released_schemas(directory), current_schemas())
    sys.stdout.write(report(verdicts))
    if any(v.fails for v in verdicts):
        return 1
    if args.release:
        for path in release(directory, current_schemas()):
            print(f"released {path.relative_to(args.root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
