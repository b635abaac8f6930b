"""The metrics of one service process, on a registry of its own (so several services
started in one test process never mix their counts), served at `GET /metrics`.

Every name and label is documented in the README ("Watching it run"). Counters count each
delivery once, whatever the batching: a batch of 64 is 64 consumed, and a redelivered
message is consumed again (and, if it was applied before, deduplicated).
"""

import functools

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series say nothing an operator pages on

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Seconds: from a few milliseconds (a hop on one machine) to minutes (a backlog, retries).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
CRITICAL_TIME_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # What prometheus_client's default registry shows of any Python process: its CPU,
        # memory and open files (process_*), the garbage collector's work (python_gc_*), the
        # interpreter (python_info). CPU per message is process_cpu_seconds_total's rate over
        # messages_consumed_total's.
        for collector in (PROCESS_COLLECTOR, GC_COLLECTOR, PLATFORM_COLLECTOR):
            r.register(collector)
        message = ["queue", "event_type"]
        self.consumed = Counter(
            "messages_consumed", "Deliveries taken from a work queue.", message, registry=r
        )
        self.acknowledged = Counter(
            "messages_acknowledged",
            "Deliveries acknowledged (settled for good).",
            message,
            registry=r,
        )
        self.deduplicated = Counter(
            "messages_deduplicated",
            "Deliveries of an event already applied (inbox hits): acknowledged, no effect.",
            message,
            registry=r,
        )
        self.retried = Counter(
            "messages_retried",
            "Deliveries sent to a retry queue after a failure.",
            message,
            registry=r,
        )
        self.dead_lettered = Counter(
            "messages_dead_lettered",
            "Deliveries sent to the dead-letter queue, by reason class: invalid (not a valid"
            " event), untrusted (signature), permanent (the handler said so), exhausted"
            " (every retry failed).",
            [*message, "reason"],
            registry=r,
        )
        self.returned = Counter(
            "messages_returned",
            "Deliveries returned to the queue unacknowledged (their copy to a retry or"
            " dead-letter queue was not confirmed, or the service is stopping).",
            message,
            registry=r,
        )
        self.handler_seconds = Histogram(
            "message_handler_duration_seconds",
            "Time a handler took for one run of events (in the batch's transaction).",
            message,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.critical_time = Histogram(
            "message_critical_time_seconds",
            "From the event's CloudEvents time to the commit of its effect here.",
            message,
            buckets=CRITICAL_TIME_BUCKETS,
            registry=r,
        )
        self.outbox_pending = Gauge(
            "outbox_pending_rows", "Outbox rows not yet published.", registry=r
        )
        self.outbox_oldest_age = Gauge(
            "outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox row (0 when there is none).",
            registry=r,
        )
        self.outbox_published = Counter(
            "outbox_published",
            "Outbox events confirmed by the broker.",
            ["event_type"],
            registry=r,
        )
        self.outbox_publish_failures = Counter(
            "outbox_publish_failures",
            "Outbox publications not confirmed (left for the sweep).",
            ["event_type"],
            registry=r,
        )
        self.outbox_confirm_seconds = Histogram(
            "outbox_publish_confirm_seconds",
            "From publishing an outbox event to the broker's confirm.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_messages = Gauge(
            "broker_queue_messages",
            "Messages ready in this service's work queues and dead-letter queues.",
            ["queue"],
            registry=r,
        )
        self.queue_consumers = Gauge(
            "broker_queue_consumers",
            "Consumers on this service's work queues and dead-letter queues.",
            ["queue"],
            registry=r,
        )
        self.http_requests = Counter(
            "http_requests", "HTTP requests answered.", ["method", "route", "status"], registry=r
        )
        self.http_seconds = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rows_pruned = Counter(
            "database_rows_pruned",
            "Rows deleted by pruning, past their retention (inbox, outbox).",
            ["table"],
            registry=r,
        )
        self.table_rows = Gauge(
            "database_table_rows",
            "Rows in a pruned table, counted after each pruning round.",
            ["table"],
            registry=r,
        )
        self.notifications_sent = Counter(
            "notification_sends",
            "Attempts to send a notification, by channel and outcome (sent, skipped, failed:"
            " will be retried, given_up).",
            ["channel", "outcome"],
            registry=r,
        )
        for metric in vars(self).values():
            if isinstance(metric, Counter | Gauge | Histogram):
                _remember_children(metric)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _remember_children(metric: Counter | Gauge | Histogram) -> None:
    """Have `metric.labels()` remember its children by label values: prometheus_client's
    checks the values and takes a lock on every call (1.3-1.6 us here, several calls a
    message), a look-up in the cache 0.1-0.2. The label values are few and fixed (queues,
    event types of the contract, route templates, the HTTP methods known by name), so the
    cache holds no more than the metric's own children, and none is ever removed. (A metric
    without labels raises on `labels()`, cached or not.)"""
    metric.labels = functools.cache(metric.labels)  # type: ignore[method-assign, assignment]
