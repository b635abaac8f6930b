"""Small numeric helpers shared by the phases."""

from collections.abc import Sequence

PERCENTILES = (50, 95, 99)
# Enough points to draw a distribution: every percentile, and the tail in finer steps.
CDF_POINTS = (*range(0, 99), 99.0, 99.5, 99.9, 100.0)


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float]:
    summary = {f"p{p}": round(percentile(latencies_ms, p), 2) for p in PERCENTILES}
    summary["max"] = round(max(latencies_ms), 2) if latencies_ms else float("nan")
    summary["count"] = len(latencies_ms)
    return summary


def per_second(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("nan")


def distribution(values: Sequence[float]) -> list[tuple[float, float]]:
    """(percentile, value) pairs at `CDF_POINTS`: a latency distribution in ~100 numbers."""
    return [(p, round(percentile(values, p), 2)) for p in CDF_POINTS]
