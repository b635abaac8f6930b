"""The benchmark harness's figures (benchmarks.report, benchmarks.databases): ids and
timestamps read the same from SQLite and PostgreSQL, the PostgreSQL pass's figures sit
beside SQLite's without moving them, and their ratios read "above 1: PostgreSQL worse"."""

import math
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from benchmarks import databases, report
from benchmarks.milestones import _order_key


def test_ids_and_instants_read_the_same_in_every_spelling() -> None:
    key = uuid.uuid4()
    assert databases.uuid_key(key) == databases.uuid_key(str(key)) == key.hex
    assert databases.uuid_key(key.hex) == key.hex
    body = orjson.dumps({"data": {"order_id": str(key)}})
    assert _order_key(body) == _order_key(memoryview(body)) == _order_key(key) == key.hex
    at = datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    sqlite_text = at.replace(tzinfo=None).isoformat(" ", "microseconds")
    assert {databases.epoch(v) for v in (sqlite_text, at, at.replace(tzinfo=None))} == {
        at.timestamp()
    }


def _e2e(orders_per_s: float, p99: float, cpu: dict[str, float]) -> dict[str, Any]:
    latency = {"p50": p99 / 3, "p95": p99 / 2, "p99": p99}
    rate = {
        "rate": 100.0,
        "latency_ms": latency,
        "loadgen_cpu_share": 0.1,
        "loadgen_max_lag_ms": 1.0,
        "cpu_ms_per_order": dict(cpu),
    }
    saturation = {
        "orders_per_s": orders_per_s,
        "post_per_s": orders_per_s,
        "latency_ms": {"p50": 200.0, "p95": 300.0, "p99": 400.0},
        "loadgen_cpu_share": 0.2,
    }
    return {"rate": rate, "rates": {"100": rate}, "saturation": saturation}


def _drain(per_s: float) -> dict[str, Any]:
    return {"per_s": per_s, "rss_mb_at_percent": {"25": 100.0, "100": 101.0}}


def _assemble(postgresql: dict[str, Any] | None) -> dict[str, Any]:
    costs = {"order": 4.0, "inventory": 3.0, "notification": 2.0}
    drain = {**_drain(1000.0), "raw_per_s": 8000.0, "faststream_per_s": 4000.0}
    return report.assemble(
        pipeline={"events_per_s": 2000.0, "latency_ms": {}, "at_rate": {"latency_ms": {}}},
        calibration={"requests_per_s": 8000.0, "cpu_share": 0.5},
        floor={"100": {"cpu_ms_per_order": {k: v / 2 for k, v in costs.items()}}},
        e2e=_e2e(400.0, 20.0, costs),
        drain=drain,
        tracing={"cpu_overhead": {"total": 0.05}},
        peak_rss_mb={"order": 120.0, "inventory": 110.0, "notification": 100.0},
        context={},
        postgresql=postgresql,
    )


def _postgresql(drain_per_s: float, p99: float) -> dict[str, Any]:
    costs = {"order": 2.0, "inventory": 1.5, "notification": 1.0}
    e2e = _e2e(400.0, p99, costs)
    e2e["rate"]["cpu_ms_per_order_postgres_server"] = 3.0
    return {
        "e2e": e2e,
        "drain": _drain(drain_per_s),
        "peak_rss_mb": {"order": 110.0, "inventory": 100.0, "notification": 90.0},
        "sqlite_peak_rss_mb": {"order": 100.0, "inventory": 100.0, "notification": 100.0},
    }


def test_the_postgresql_figures_sit_beside_sqlites_and_leave_them_where_they_were() -> None:
    alone, both = _assemble(None), _assemble(_postgresql(500.0, 30.0))
    added = {"postgresql", "postgresql_vs_sqlite", "peak_rss_mb_e2e_and_drain"}
    assert set(both) == set(alone) | added
    for key in set(alone) - {"targets", "details"}:
        assert both[key] == alone[key], key
    pg = both["postgresql"]
    assert pg["cpu_ms_per_order_at_rate"]["100"]["total"] == 4.5
    assert pg["cpu_vs_floor"]["100"]["total"] == 1.0  # against SQLite's floor
    assert pg["cpu_ms_per_order_postgres_server_at_rate"] == {"100": 3.0}
    assert pg["broker_limit_ratio"] == 0.4
    assert pg["peak_rss_mb"]["order"] == 110.0


def test_the_ratios_read_above_one_when_postgresql_is_worse() -> None:
    results = _assemble(_postgresql(drain_per_s=500.0, p99=30.0))
    versus = results["postgresql_vs_sqlite"]
    assert versus["drain_per_s"] == 2.0  # half the throughput: twice as bad
    assert versus["e2e_orders_per_s"] == versus["broker_limit_ratio"] == 1.0
    assert versus["latency_ms_p99"] == 1.5
    assert versus["cpu_ms_per_order_at_rate"]["100"]["total"] == 0.5
    assert versus["cpu_vs_floor"]["100"]["order"] == 0.5
    # Peak RSS against SQLite's over the same phases, not the whole run's.
    assert versus["peak_rss_mb"] == {"inventory": 1.0, "notification": 0.9, "order": 1.1}
    (target,) = [t for t in results["targets"] if t["name"].startswith("PostgreSQL")]
    assert target["name"].endswith("(worst: drain_per_s)")
    assert (target["value"], target["passed"]) == (2.0, False)


def test_the_target_passes_within_one_and_a_half_times() -> None:
    results = _assemble(_postgresql(drain_per_s=700.0, p99=29.0))
    (target,) = [t for t in results["targets"] if t["name"].startswith("PostgreSQL")]
    assert target["passed"] and math.isclose(target["value"], 1.45)
    assert not [t for t in _assemble(None)["targets"] if t["name"].startswith("PostgreSQL")]
