"""The sizes of one run: the full run (`make bench`, a few minutes) and a smoke run (the same
harness at tiny sizes, well under a minute)."""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class BenchConfig:
    output_dir: Path = RESULTS_DIR
    smoke: bool = False
    backlog: bool = False  # the backlog run only (--backlog)
    # Raw aio-pika pipeline
    pipeline_events: int = 20_000
    pipeline_in_flight: int = 128
    pipeline_rate_seconds: float = 5.0
    prefetch: int = 256  # the services' PREFETCH_COUNT default
    # End to end over HTTP
    concurrency: int = 64
    warmup_orders: int = 200
    saturation_orders: int = 3_000
    rate: float = 100.0
    rates: tuple[float, ...] = (50.0, 100.0)  # the fixed rates CPU per order is read at
    rate_seconds: float = 15.0
    skus: int = 50
    calibration_requests: int = 10_000
    # Tracing's cost: turns of the traced and the untraced system at `rate`, in pairs
    tracing_pairs: int = 4
    tracing_turn_seconds: float = 10.0
    # Consumer drain
    drain_messages: int = 20_000
    # The backlog run (--backlog): up to this many OrderPlaced, or as many as fit in the fill's
    # seconds, drained by two inventory replicas on PostgreSQL keeping `backlog_retention`
    # seconds of inbox and outbox rows
    backlog_messages: int = 1_000_000
    backlog_fill_seconds: float = 120.0
    backlog_retention: float = 60.0
    # Optional: a py-spy binary to profile the services with (numbers are then perturbed)
    py_spy: str | None = None

    @property
    def rate_orders(self) -> int:
        return max(1, round(self.rate * self.rate_seconds))

    def scaled_for_smoke(self) -> "BenchConfig":
        return dataclasses.replace(
            self,
            smoke=True,
            pipeline_events=500,
            pipeline_rate_seconds=1.0,
            warmup_orders=20,
            saturation_orders=150,
            rate=50.0,
            rates=(50.0,),
            rate_seconds=2.0,
            calibration_requests=500,
            tracing_pairs=1,
            tracing_turn_seconds=2.0,
            drain_messages=500,
            backlog_messages=2_000,
            backlog_fill_seconds=10.0,
            backlog_retention=5.0,
        )
