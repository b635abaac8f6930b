"""What tracing costs: two copies of the system side by side, one exporting its spans over
OTLP (to a receiver in this process, as they would go to Jaeger or a collector) and one
not, taking orders at the fixed rate in turns: off, on, then on, off, ... so that neither
always runs first and a drift of the machine's speed weighs on both alike. Each turn's CPU
is read once its spans have been exported; the receiver decodes nothing until the end, so
that it takes no CPU from the services while they are measured. CPU per order per service
for each, pooled over its turns, the ratio, and each pair's ratio as a measure of the
noise."""

from pathlib import Path
from typing import Any

from benchmarks.config import BenchConfig
from benchmarks.footprint import Monitor
from benchmarks.side_by_side import Variant, compared, in_turns
from tests.support.otlp import otlp_receiver

EXPORT_DELAY_S = 1.0  # the batch span processor's delay (the SDK's default is 5 s)
LINGER_S = EXPORT_DELAY_S + 0.5


async def run_tracing_cost(cfg: BenchConfig, workdir: Path, monitor: Monitor) -> dict[str, Any]:
    with otlp_receiver() as (endpoint, receiver):
        exporting = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": str(round(EXPORT_DELAY_S * 1000)),
        }
        # Both wait out the exporter's delay: a turn's spans are exported in it.
        turns = await in_turns(
            cfg,
            workdir,
            monitor,
            (Variant("off"), Variant("on", exporting)),
            pairs=cfg.tracing_pairs,
            turn_seconds=cfg.tracing_turn_seconds,
            linger=LINGER_S,
        )
        spans_exported = len(receiver.snapshot())
    results = compared(turns, "off", "on", change="overhead")
    results["spans_exported"] = spans_exported
    return results
