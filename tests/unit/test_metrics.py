"""The services' metrics (shared.telemetry.metrics): a labelled metric's children are looked
up once per label values, and what is counted through them is what the exposition shows."""

from shared.telemetry.metrics import Metrics


def test_a_child_is_looked_up_once_and_counts_as_prometheus_client_does() -> None:
    metrics = Metrics()
    first = metrics.consumed.labels("inventory.order-events", "OrderPlaced")

    assert metrics.consumed.labels("inventory.order-events", "OrderPlaced") is first
    for _ in range(3):
        metrics.consumed.labels("inventory.order-events", "OrderPlaced").inc()
    metrics.consumed.labels("inventory.order-events", "unknown").inc()
    metrics.http_seconds.labels("POST", "/orders").observe(0.003)

    # Looked up in the cache, not through prometheus_client's checks and lock, after the first.
    assert metrics.consumed.labels.cache_info().hits == 4  # type: ignore[attr-defined]
    text = metrics.exposition().decode()
    assert (
        'messages_consumed_total{event_type="OrderPlaced",queue="inventory.order-events"} 3.0'
        in text
    )
    assert 'messages_consumed_total{event_type="unknown",queue="inventory.order-events"} 1.0' in (
        text
    )
    assert 'http_request_duration_seconds_count{method="POST",route="/orders"} 1.0' in text


def test_each_metrics_object_has_children_of_its_own() -> None:
    one, other = Metrics(), Metrics()
    one.acknowledged.labels("q", "OrderPlaced").inc()

    assert other.acknowledged.labels("q", "OrderPlaced") is not one.acknowledged.labels(
        "q", "OrderPlaced"
    )
    assert 'messages_acknowledged_total{event_type="OrderPlaced",queue="q"} 0.0' in (
        other.exposition().decode()
    )


def test_the_process_and_its_garbage_collector_are_in_the_exposition() -> None:
    text = Metrics().exposition().decode()

    for name in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        'python_gc_collections_total{generation="2"}',
        "python_info",
    ):
        assert f"\n{name}" in text, name
