"""The results of a run: one flat JSON document (the keys the issue names, then details),
a table on stdout, and a chart (throughput bars, latency distribution).

The figures at the top are the run on SQLite; `postgresql` holds the same figures for the
end-to-end and inventory drain phases run again on PostgreSQL, and `postgresql_vs_sqlite`
each one's ratio, oriented so that above 1 means PostgreSQL is worse."""

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

RSS_LIMIT_MB = 150.0
P99_LIMIT_MS = 25.0
CPU_VS_FLOOR_LIMIT = 1.5
TRACING_OVERHEAD_LIMIT = 0.10
BROKER_LIMIT_TARGET = 0.8
FLAT_GROWTH = 0.10  # "flat": RSS grows by less than this from 25% to 100% of the drain
POSTGRESQL_VS_SQLITE_LIMIT = 1.5
# The figures compared between the two databases, and those where more is better (their
# ratio is SQLite's over PostgreSQL's; the others', PostgreSQL's over SQLite's).
COMPARED = (
    "cpu_ms_per_order_at_rate",
    "cpu_vs_floor",
    "e2e_orders_per_s",
    "latency_ms_p50",
    "latency_ms_p95",
    "latency_ms_p99",
    "saturation_latency_ms_p99",
    "drain_per_s",
    "broker_limit_ratio",
    "peak_rss_mb",
)
HIGHER_IS_BETTER = ("e2e_orders_per_s", "drain_per_s", "broker_limit_ratio")


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    threshold: str
    passed: bool


def assemble(
    pipeline: dict[str, Any],
    calibration: dict[str, Any],
    floor: dict[str, Any],
    e2e: dict[str, Any],
    drain: dict[str, Any],
    tracing: dict[str, Any],
    peak_rss_mb: dict[str, float],
    context: dict[str, Any],
    postgresql: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`postgresql` (optional): the PostgreSQL pass's `e2e` and `drain` phases, its services'
    `peak_rss_mb`, and SQLite's peak RSS over the same phases (`sqlite_peak_rss_mb`)."""
    raw = pipeline["events_per_s"]
    saturation, at_rate = e2e["saturation"], e2e["rate"]
    at_rates = {rate: phase["cpu_ms_per_order"] for rate, phase in e2e["rates"].items()}
    floors = {rate: floor[rate]["cpu_ms_per_order"] for rate in at_rates if rate in floor}
    for costs in (*at_rates.values(), *floors.values()):
        costs["total"] = round(sum(v for k, v in costs.items() if k != "total"), 3)
    results: dict[str, Any] = {
        "cpu_ms_per_order_at_rate": at_rates,
        "cpu_ms_per_order_floor": floors,
        "cpu_vs_floor": {
            rate: {name: _ratio(cost, floors[rate][name]) for name, cost in costs.items()}
            for rate, costs in at_rates.items()
            if rate in floors
        },
        # An order is two broker events: half the raw pipeline's rate is the broker's limit.
        "broker_limit_ratio": _ratio(saturation["orders_per_s"], raw / 2),
        # Exporting traces over OTLP against not: CPU per order at the fixed rate.
        "tracing_cpu_overhead": tracing["cpu_overhead"],
        "raw_pipeline_events_per_s": raw,
        "e2e_orders_per_s": saturation["orders_per_s"],
        "e2e_ratio": _ratio(saturation["orders_per_s"], raw),
        **_latencies(at_rate, saturation),
        "e2e_post_per_s": saturation["post_per_s"],
        "drain_per_s": drain["per_s"],
        "raw_drain_per_s": drain["raw_per_s"],
        "faststream_drain_per_s": drain["faststream_per_s"],
        "drain_ratio_vs_faststream": _ratio(drain["per_s"], drain["faststream_per_s"]),
        "drain_ratio_vs_raw": _ratio(drain["per_s"], drain["raw_per_s"]),
        "peak_rss_mb": {name: round(mb, 1) for name, mb in sorted(peak_rss_mb.items())},
        "drain_rss_mb_at_percent": drain["rss_mb_at_percent"],
        "raw_pipeline_latency_ms": pipeline["latency_ms"],
        "raw_pipeline_at_rate_latency_ms": pipeline["at_rate"]["latency_ms"],
        "loadgen": {
            "trivial_server_requests_per_s": calibration["requests_per_s"],
            "cpu_share_at_calibration": calibration["cpu_share"],
            "cpu_share_at_saturation": saturation["loadgen_cpu_share"],
            "cpu_share_at_rate": at_rate["loadgen_cpu_share"],
            "max_schedule_lag_ms_at_rate": at_rate["loadgen_max_lag_ms"],
        },
        **context,
        "details": {
            "pipeline": pipeline,
            "floor": floor,
            "e2e": e2e,
            "drain": drain,
            "tracing": tracing,
        },
    }
    if postgresql is not None:
        figures = _figures(postgresql["e2e"], postgresql["drain"], floors, raw)
        figures["peak_rss_mb"] = _rounded(postgresql["peak_rss_mb"])
        results["postgresql"] = figures
        # SQLite's peaks over the phases the PostgreSQL pass has (no tracing phase).
        results["peak_rss_mb_e2e_and_drain"] = _rounded(postgresql["sqlite_peak_rss_mb"])
        sqlite = sqlite_figures(results)
        results["postgresql_vs_sqlite"] = {
            name: _versus(figures[name], sqlite[name], name in HIGHER_IS_BETTER)
            for name in COMPARED
        }
        results["details"]["postgresql"] = {
            "e2e": postgresql["e2e"],
            "drain": postgresql["drain"],
        }
    results["targets"] = [vars(t) for t in targets(results)]
    return results


def _figures(
    e2e: dict[str, Any], drain: dict[str, Any], floors: dict[str, Any], raw: float
) -> dict[str, Any]:
    """The figures of a pass on another database, as the top-level ones are for SQLite."""
    saturation, at_rate = e2e["saturation"], e2e["rate"]
    at_rates = {rate: phase["cpu_ms_per_order"] for rate, phase in e2e["rates"].items()}
    for costs in at_rates.values():
        costs["total"] = round(sum(v for k, v in costs.items() if k != "total"), 3)
    return {
        "cpu_ms_per_order_at_rate": at_rates,
        "cpu_vs_floor": {
            rate: {name: _ratio(cost, floors[rate][name]) for name, cost in costs.items()}
            for rate, costs in at_rates.items()
            if rate in floors
        },
        # The database server's own CPU for the services' databases: not in the figures
        # above (on SQLite that work is inside each service's process, and counted).
        "cpu_ms_per_order_postgres_server_at_rate": {
            rate: phase.get("cpu_ms_per_order_postgres_server", float("nan"))
            for rate, phase in e2e["rates"].items()
        },
        "broker_limit_ratio": _ratio(saturation["orders_per_s"], raw / 2),
        "e2e_orders_per_s": saturation["orders_per_s"],
        **_latencies(at_rate, saturation),
        "drain_per_s": drain["per_s"],
    }


def _latencies(at_rate: dict[str, Any], saturation: dict[str, Any]) -> dict[str, float]:
    """p50/p95/p99 end to end at the fixed rate and at saturation, under their keys."""
    return {
        **{f"latency_ms_{p}": at_rate["latency_ms"][p] for p in ("p50", "p95", "p99")},
        **{
            f"saturation_latency_ms_{p}": saturation["latency_ms"][p] for p in ("p50", "p95", "p99")
        },
    }


def sqlite_figures(results: dict[str, Any]) -> dict[str, Any]:
    """The SQLite figures that the PostgreSQL ones are compared with (peak RSS: over the
    same phases)."""
    figures = {name: results[name] for name in COMPARED}
    figures["peak_rss_mb"] = results["peak_rss_mb_e2e_and_drain"]
    return figures


def _versus(postgresql: Any, sqlite: Any, higher_is_better: bool) -> Any:
    """PostgreSQL's figure against SQLite's (dicts of figures key by key), above 1 when
    PostgreSQL's is worse."""
    if isinstance(postgresql, dict):
        return {
            key: _versus(value, sqlite[key], higher_is_better)
            for key, value in postgresql.items()
            if key in sqlite
        }
    return _ratio(sqlite, postgresql) if higher_is_better else _ratio(postgresql, sqlite)


def _flatten(tree: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], float]]:
    if isinstance(tree, dict):
        return [item for key, value in tree.items() for item in _flatten(value, (*path, key))]
    return [(path, tree)]


def _worst_first(ratios: dict[str, Any]) -> list[tuple[tuple[str, ...], float]]:
    """Every ratio, the worst first (a missing one, NaN, counts as the worst)."""
    return sorted(_flatten(ratios), key=lambda item: -math.inf if math.isnan(item[1]) else -item[1])


def targets(results: dict[str, Any]) -> list[Target]:
    """Issue 11's targets: CPU per order within 1.5x of the floor (each service and all
    three) at every fixed rate, p99 at 100 orders/s, saturation against the broker's
    limit, the drain against FastStream's, and memory (kept from issue 5)."""
    rss = results["peak_rss_mb"]
    at = results["drain_rss_mb_at_percent"]
    versus = []
    if "postgresql_vs_sqlite" in results:
        (path, worst), *_ = _worst_first(results["postgresql_vs_sqlite"])
        versus.append(
            Target(
                f"PostgreSQL within 1.5x of SQLite on every figure (worst: {' '.join(path)})",
                worst,
                f"<= {POSTGRESQL_VS_SQLITE_LIMIT:g}",
                worst <= POSTGRESQL_VS_SQLITE_LIMIT,
            )
        )
    growth = (at["100"] - at["25"]) / at["25"]
    found = [
        Target(
            f"cpu_vs_floor {name} at {rate}/s",
            ratio,
            f"<= {CPU_VS_FLOOR_LIMIT:g}",
            ratio <= CPU_VS_FLOOR_LIMIT,
        )
        for rate, ratios in results["cpu_vs_floor"].items()
        for name, ratio in ratios.items()
    ]
    overhead = results["tracing_cpu_overhead"]["total"]
    return [
        *found,
        Target(
            "tracing_cpu_overhead total (exporting on vs off)",
            overhead,
            f"<= {TRACING_OVERHEAD_LIMIT:.0%}",
            overhead <= TRACING_OVERHEAD_LIMIT,
        ),
        Target(
            "latency_ms_p99 at the fixed rate",
            results["latency_ms_p99"],
            f"<= {P99_LIMIT_MS:g} ms",
            results["latency_ms_p99"] <= P99_LIMIT_MS,
        ),
        Target(
            "broker_limit_ratio (e2e orders/s / (raw pipeline events/s / 2))",
            results["broker_limit_ratio"],
            f">= {BROKER_LIMIT_TARGET}",
            results["broker_limit_ratio"] >= BROKER_LIMIT_TARGET,
        ),
        Target(
            "drain_per_s / faststream_drain_per_s",
            results["drain_ratio_vs_faststream"],
            ">= 1.0",
            results["drain_per_s"] >= results["faststream_drain_per_s"],
        ),
        Target(
            "peak RSS of the largest service",
            max(rss.values()),
            f"<= {RSS_LIMIT_MB:g} MB",
            max(rss.values()) <= RSS_LIMIT_MB,
        ),
        Target(
            "RSS growth from 25% to 100% of the drain",
            round(growth, 3),
            f"< {FLAT_GROWTH:.0%}",
            growth < FLAT_GROWTH,
        ),
        *versus,
    ]


def table(results: dict[str, Any]) -> str:
    d = results["details"]
    saturation, at_rate = d["e2e"]["saturation"], d["e2e"]["rate"]
    load = results["loadgen"]
    rate = at_rate["rate"]

    def lat(summary: dict[str, float]) -> str:
        return f"{summary['p50']:.1f} / {summary['p95']:.1f} / {summary['p99']:.1f}"

    rows = [
        ("raw pipeline (events/s, both consumers)", f"{results['raw_pipeline_events_per_s']:.0f}"),
        ("  its latency p50/p95/p99 ms, flat out", lat(results["raw_pipeline_latency_ms"])),
        (
            f"  its latency p50/p95/p99 ms, {rate:g}/s",
            lat(results["raw_pipeline_at_rate_latency_ms"]),
        ),
        ("e2e orders/s (saturation, to last commit)", f"{results['e2e_orders_per_s']:.0f}"),
        ("  POST /orders accepted/s", f"{results['e2e_post_per_s']:.0f}"),
        (
            "  HTTP errors at rate / saturation",
            f"{at_rate['http_errors']} / {saturation['http_errors']}",
        ),
        ("  e2e_ratio (e2e / raw pipeline)", f"{results['e2e_ratio']:.3f}"),
        ("  latency p50/p95/p99 ms, saturation", lat(saturation["latency_ms"])),
        (f"e2e latency p50/p95/p99 ms, {rate:g} orders/s", lat(at_rate["latency_ms"])),
        ("  orders completed/s at that rate", f"{at_rate['orders_per_s']:.0f}"),
        ("  POST latency p50/p95/p99 ms", lat(at_rate["post_latency_ms"])),
        ("raw aio-pika drain (msgs/s)", f"{results['raw_drain_per_s']:.0f}"),
        ("  its CPU (cores)", f"{d['drain']['raw_cpu_share']:.2f}"),
        ("FastStream drain (msgs/s)", f"{results['faststream_drain_per_s']:.0f}"),
        ("  its CPU (cores)", f"{d['drain']['faststream_cpu_share']:.2f}"),
        ("inventory service drain (msgs/s)", f"{results['drain_per_s']:.0f}"),
        (
            "  vs FastStream / vs raw",
            _pair(results, "drain_ratio_vs_faststream", "drain_ratio_vs_raw"),
        ),
        ("  outcomes published (msgs/s)", f"{d['drain']['outcomes_published_per_s']:.0f}"),
        ("peak RSS MB", _join(results["peak_rss_mb"], "{:.0f}")),
        (
            "inventory RSS MB at 0/25/50/75/100% of drain",
            " / ".join(f"{v:.0f}" for v in results["drain_rss_mb_at_percent"].values()),
        ),
        (
            "  of which anonymous (heap) MB",
            " / ".join(f"{v:.0f}" for v in d["drain"]["anon_rss_mb_at_percent"].values()),
        ),
        ("CPU cores, e2e saturation", _join(saturation["cpu"], "{:.2f}")),
        ("CPU ms per order, e2e saturation", _join(saturation["cpu_ms_per_order"], "{:.1f}")),
        ("CPU cores, inventory drain", _join(d["drain"]["cpu"], "{:.2f}")),
        ("CPU cores, raw pipeline", _join(d["pipeline"]["cpu"], "{:.2f}")),
        (
            "load generator vs trivial server (req/s)",
            f"{load['trivial_server_requests_per_s']:.0f}",
        ),
        (
            "  its CPU (cores) at saturation / at rate",
            (f"{load['cpu_share_at_saturation']:.2f} / {load['cpu_share_at_rate']:.2f}"),
        ),
        ("  its worst schedule lag at rate (ms)", f"{load['max_schedule_lag_ms_at_rate']:.1f}"),
    ]
    width = max(len(label) for label, _ in rows) + 2
    lines = [_title(results), ""]
    if results["broker_disrupted_during_run"]:
        lines += ["WARNING: the broker went away during this run: its numbers are not valid", ""]
    lines += [f"{label:<{width}}{value}" for label, value in rows]
    for tag, phase in (("fixed rate", at_rate), ("saturation", saturation)):
        lines += ["", f"where an order's time goes, {tag} (ms after its POST, p50 / p99):"]
        lines += [
            f"  {step:<{width - 2}}{summary['p50']:.1f} / {summary['p99']:.1f}"
            for step, summary in phase["milestones_ms"].items()
        ]
    lines += ["", "CPU ms per order at fixed rates (system / floor = ratio):"]
    for rate, costs in results["cpu_ms_per_order_at_rate"].items():
        floor = results["cpu_ms_per_order_floor"].get(rate, {})
        ratios = results["cpu_vs_floor"].get(rate, {})
        nan = float("nan")
        parts = [
            f"{name} {cost:.2f} / {floor.get(name, nan):.2f} = {ratios.get(name, nan):.2f}"
            for name, cost in costs.items()
        ]
        lines.append(f"  {rate}/s: " + "; ".join(parts))
    tracing = results["details"]["tracing"]
    lines += [
        "",
        f"tracing at {at_rate['rate']:g}/s, CPU ms per order off / on, pooled over "
        f"{tracing['pairs']['count']} pairs of turns ({tracing['spans_exported']} spans "
        "exported; total by pair "
        + ", ".join(f"{x:+.0%}" for x in tracing["pairs"]["total_overhead_by_pair"])
        + "):",
        *(
            f"  {name:<12}{tracing['off']['cpu_ms_per_order'][name]:.2f} / "
            f"{tracing['on']['cpu_ms_per_order'][name]:.2f} ({overhead:+.0%})"
            for name, overhead in results["tracing_cpu_overhead"].items()
        ),
    ]
    if "postgresql" in results:
        lines += ["", *_postgresql_table(results)]
    lines += ["", "targets (issues 11 and 13):"]
    for t in results["targets"]:
        verdict = "PASS" if t["passed"] else "FAIL"
        lines.append(f"  {verdict}  {t['name']} = {t['value']:g}  (target {t['threshold']})")
    for name, profile in results.get("profiles", {}).items():
        lines += [
            "",
            f"py-spy {name} ({profile['samples']} samples, % of samples): {profile['raw']}",
        ]
        for key in ("thread_percent", "package_self_percent", "self_percent"):
            top = "; ".join(f"{frame} {share}" for frame, share in profile[key][:8])
            lines.append(f"  {key}: {top}")
    return "\n".join(lines)


def _postgresql_table(results: dict[str, Any]) -> list[str]:
    """SQLite's figures next to PostgreSQL's, with their ratios."""
    sqlite, postgresql = sqlite_figures(results), results["postgresql"]
    limit = POSTGRESQL_VS_SQLITE_LIMIT
    rows = [("figure", "SQLite", "PostgreSQL", "ratio")]
    for path, ratio in _flatten(results["postgresql_vs_sqlite"]):
        sq, pg = _at(sqlite, path), _at(postgresql, path)
        mark = "  > 1.5x" if not ratio <= limit else ""
        rows.append((" ".join(path), f"{sq:g}", f"{pg:g}", f"{ratio:.2f}{mark}"))
    # Not a target: the server's share of the database work, which SQLite does in-process.
    for rate, server in postgresql["cpu_ms_per_order_postgres_server_at_rate"].items():
        sq = sqlite["cpu_ms_per_order_at_rate"][rate]["total"]
        pg = postgresql["cpu_ms_per_order_at_rate"][rate]["total"] + server
        rows += [
            (f"(PostgreSQL server's own CPU ms/order at {rate}/s)", "-", f"{server:g}", ""),
            (f"(total with the server's at {rate}/s)", f"{sq:g}", f"{pg:g}", f"({pg / sq:.2f})"),
        ]
    width = max(len(row[0]) for row in rows) + 2
    d = results["details"]["postgresql"]
    return [
        f"SQLite vs PostgreSQL (end to end and inventory drain again on PostgreSQL; ratio > 1:"
        f" PostgreSQL worse, target <= {limit:g}; peak RSS over these phases on both):",
        *(f"  {a:<{width}}{b:>12}{c:>14}  {r}" for a, b, c, r in rows),
        "  PostgreSQL: CPU cores, e2e saturation: "
        + _join(d["e2e"]["saturation"]["cpu"], "{:.2f}"),
        "  PostgreSQL: CPU cores, inventory drain: " + _join(d["drain"]["cpu"], "{:.2f}"),
        f"  PostgreSQL: HTTP errors at rate / saturation: {d['e2e']['rate']['http_errors']}"
        f" / {d['e2e']['saturation']['http_errors']}",
    ]


def _at(tree: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def backlog_table(backlog: dict[str, Any]) -> str:
    """The backlog run's figures, one per line."""
    rss = "; ".join(
        f"{name} " + " / ".join(str(v) for v in by.values())
        for name, by in backlog["rss_mb_at_percent"].items()
    )
    lines = [
        f"queued: {backlog['queued']:,} OrderPlaced in {backlog['fill_seconds']} s "
        f"({backlog['fill_per_s']:,}/s)",
        f"drained by {backlog['replicas']} inventory replicas on PostgreSQL in "
        f"{backlog['drain_seconds']} s: {backlog['drain_per_s']:,} msgs/s "
        f"(per replica {backlog['consumed_per_replica']})",
        f"RSS, MB, at 0/25/50/75/100% of the drain: {rss}",
        f"retention {backlog['retention_s']} s; largest while draining "
        f"{backlog['largest_tables_while_draining']}",
        f"tables when drained {backlog['tables_when_drained']}; after pruning "
        f"{backlog['tables_after_pruning']} ({backlog['pruning_caught_up_s_after_drain']} s "
        f"later; rows pruned per replica {backlog['rows_pruned_per_replica']})",
    ]
    return "\n".join(lines)


def write_json(results: dict[str, Any], path: Path) -> None:
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def write_chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (bars, cdf) = plt.subplots(1, 2, figsize=(13, 5))
    throughput = {
        "raw pipeline\n(events/s)": results["raw_pipeline_events_per_s"],
        "e2e\n(orders/s)": results["e2e_orders_per_s"],
        "raw drain\n(msgs/s)": results["raw_drain_per_s"],
        "FastStream drain\n(msgs/s)": results["faststream_drain_per_s"],
        "inventory drain\n(msgs/s)": results["drain_per_s"],
    }
    colours = ["#8c8c8c", "#d62728", "#8c8c8c", "#8c8c8c", "#d62728"]
    postgresql = results.get("postgresql")
    if postgresql is not None:
        throughput["e2e, PG\n(orders/s)"] = postgresql["e2e_orders_per_s"]
        throughput["inventory drain,\nPG (msgs/s)"] = postgresql["drain_per_s"]
        colours += ["#1f77b4", "#1f77b4"]
    drawn = bars.bar(list(throughput), list(throughput.values()), color=colours)
    bars.bar_label(drawn, fmt="%.0f")
    bars.set_title(
        "Throughput (grey: baselines, red: this system on SQLite"
        + (", blue: on PostgreSQL)" if postgresql is not None else ")"),
        fontsize=10,
    )
    bars.tick_params(axis="x", labelsize=8 if postgresql is None else 7)
    e2e = results["details"]["e2e"]
    curves = [
        (f"{e2e['rate']['rate']:g} orders/s (open loop)", e2e["rate"], "-", "#d62728"),
        (
            f"saturation ({e2e['saturation']['concurrency']} in flight)",
            e2e["saturation"],
            "--",
            "#d62728",
        ),
    ]
    if postgresql is not None:
        pg = results["details"]["postgresql"]["e2e"]
        curves += [
            (f"{pg['rate']['rate']:g} orders/s, PostgreSQL", pg["rate"], "-", "#1f77b4"),
            ("saturation, PostgreSQL", pg["saturation"], "--", "#1f77b4"),
        ]
    for label, phase, style, colour in curves:
        points = phase["latency_distribution_ms"]
        xs, ys = [ms for _, ms in points], [p / 100 for p, _ in points]
        cdf.plot(xs, ys, style, color=colour, label=label)
    cdf.axvline(P99_LIMIT_MS, color="grey", linestyle=":", label=f"p99 target {P99_LIMIT_MS:g} ms")
    cdf.axhline(0.99, color="grey", linewidth=0.5)
    cdf.set_xscale("log")
    cdf.set_xlabel("POST sent -> outcome and both notifications committed (ms)")
    cdf.set_ylabel("share of orders")
    cdf.set_title("End-to-end latency distribution")
    cdf.legend(loc="lower right" if postgresql is None else "center", fontsize=8)
    figure.suptitle(_title(results), fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _title(results: dict[str, Any]) -> str:
    m, v = results["machine"], results["versions"]
    return (
        f"{'smoke' if results['smoke'] else 'full'} run {results['timestamp']} - "
        f"{m['cpu_count']} cpus, {m['platform']}, Python {m['python']}, "
        f"RabbitMQ {v['rabbitmq']}, aio-pika {v['aio-pika']}, FastStream {v['faststream']}"
    )


def _rounded(peaks: dict[str, float]) -> dict[str, float]:
    return {name: round(mb, 1) for name, mb in sorted(peaks.items())}


def _ratio(value: float, baseline: float) -> float:
    return round(value / baseline, 3) if baseline and not math.isnan(baseline) else float("nan")


def _pair(results: dict[str, Any], first: str, second: str) -> str:
    return f"{results[first]:.3f} / {results[second]:.3f}"


def _join(values: dict[str, float], fmt: str) -> str:
    return ", ".join(f"{name} {fmt.format(value)}" for name, value in values.items())
