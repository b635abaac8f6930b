"""The guarantees, each broken on purpose, and the tests that must catch each break.

An entry replaces `find` (which must occur exactly once in `file`) with `replace`, and
names the tests that must then fail, fastest first (the gate sorts unit before
integration before end-to-end anyway). `quick` entries make the reduced catalogue that CI
runs; `python -m tests.mutation` runs them all.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    id: str
    guarantee: str  # what the change breaks, as the README promises it
    file: str
    find: str
    replace: str
    tests: tuple[str, ...]
    quick: bool = False


DM = "tests/unit/test_delivery_machinery.py"
TX = "tests/unit/test_transactional_outbox.py"
INVENTORY_HANDLERS = "tests/unit/test_inventory_handlers.py"
ORDER_HANDLERS = "tests/unit/test_order_handlers.py"
DOMAIN_KEYS = "tests/integration/test_domain_keys.py"
ORDER_API = "tests/integration/test_order_api.py"
STOCK_API = "tests/integration/test_stock_api.py"
NOTIFICATION_API = "tests/integration/test_notification_api.py"
DLQ_TOOLS = "tests/integration/test_dead_letter_tooling.py"
PUBLISHING = "tests/integration/test_broker_publishing.py"

CATALOGUE: tuple[Mutation, ...] = (
    # --- no event applied twice: the inbox, and the domain keys behind it ---------------
    Mutation(
        id="inbox-off",
        guarantee="a redelivered event finds its inbox row and is acked without effect",
        file="shared/persistence/inbox.py",
        find="return {row[0] for row in rows}",
        replace="return set(unique)",
        tests=(
            f"{DM}::test_two_deliveries_of_one_event_in_one_batch_are_applied_once_and_both_acked",
            f"{DM}::test_a_redelivery_in_a_later_batch_is_acked_without_effect",
        ),
        quick=True,
    ),
    Mutation(
        id="inbox-outside-transaction",
        guarantee="the inbox row is written in the same transaction as the effect",
        file="shared/messaging/processing.py",
        find=(
            "        def apply(uow: UowT) -> tuple[list[Event[Any]], list[Event[Any]]]:\n"
            "            new_ids = uow.inbox.record_new("
            "self.queue.name, [(e.id, e.type) for e in events])\n"
        ),
        replace=(
            "        recorded = await self._transactions(\n"
            "            lambda uow: uow.inbox.record_new("
            "self.queue.name, [(e.id, e.type) for e in events])\n"
            "        )\n"
            "\n"
            "        def apply(uow: UowT) -> tuple[list[Event[Any]], list[Event[Any]]]:\n"
            "            new_ids = set(recorded)\n"
        ),
        tests=(f"{DM}::test_an_effect_and_its_inbox_row_are_committed_together_or_not_at_all",),
        quick=True,
    ),
    Mutation(
        id="existing-reservation-check-removed",
        guarantee="one reservation per order, whatever the event id (domain key)",
        file="inventory_service/handlers.py",
        find="        if order.order_id in reserved_already:\n",
        replace="        if False:\n",
        tests=(
            f"{INVENTORY_HANDLERS}::"
            "test_an_order_placed_again_in_a_later_transaction_reserves_nothing_more",
            f"{DOMAIN_KEYS}::test_order_placed_again_under_another_event_id_reserves_stock_once",
        ),
        quick=True,
    ),
    Mutation(
        id="notification-unique-removed",
        guarantee="one notification per (order, kind), whatever the event id (domain key)",
        # The schema comes from the migrations (the table in adapters/tables.py is for reads).
        file="notification_service/adapters/migrations/versions/m0001_baseline.py",
        find=(
            '        sa.UniqueConstraint("order_id", "kind", name="uq_notifications_order_kind"),\n'
        ),
        replace="",
        tests=(
            f"{DOMAIN_KEYS}::test_an_outcome_again_under_another_event_id_notifies_once_per_kind",
        ),
        quick=True,
    ),
    Mutation(
        id="repeated-outcome-not-a-no-op",
        guarantee="a repeated stock outcome leaves its order as it is (domain key)",
        file="order_service/domain/model.py",
        find="        if self.status == outcome:\n            return False\n",
        replace="",
        tests=(
            "tests/unit/test_order_status.py::test_confirming_twice_is_a_no_op",
            f"{ORDER_HANDLERS}::test_a_repeated_outcome_changes_nothing",
        ),
        quick=True,
    ),
    # --- acknowledged only once durable --------------------------------------------------
    Mutation(
        id="ack-before-commit",
        guarantee="a delivery is acknowledged only after its effects have committed",
        file="shared/messaging/processing.py",
        find="        pending = [item for item in items if not item.settled]\n",
        replace=(
            "        pending = [item for item in items if not item.settled]\n"
            "        await _acknowledge(pending) if pending else None\n"
        ),
        tests=(f"{DM}::test_deliveries_are_acknowledged_only_after_their_effects_committed",),
        quick=True,
    ),
    Mutation(
        id="failed-copy-acked",
        guarantee="a message whose retry or dead-letter copy is not confirmed is not acked",
        file="shared/messaging/processing.py",
        find="            item.ack = False\n",
        replace="            pass\n",
        tests=(
            f"{DM}::test_a_message_whose_copy_is_not_confirmed_goes_back_to_the_queue_and_the_rest_are_acked",
        ),
        quick=True,
    ),
    Mutation(
        id="failed-batch-drops-the-rest",
        guarantee="a failing batch is re-run one by one: one bad message never costs the others",
        file="shared/messaging/processing.py",
        find="                if len(pending) == 1:\n",
        replace="                if True:\n",
        tests=(
            f"{DM}::test_one_bad_message_does_not_keep_the_others_of_its_batch_from_their_effects",
        ),
        quick=True,
    ),
    Mutation(
        id="prefetch-not-set",
        guarantee="a consumer holds at most PREFETCH_COUNT unacknowledged deliveries",
        file="shared/messaging/consumer.py",
        find="        await channel.set_qos(prefetch_count=self._prefetch)\n",
        replace="",
        tests=(
            "tests/integration/test_consumer_prefetch.py::"
            "test_a_consumer_holds_no_more_unacknowledged_deliveries_than_its_prefetch",
        ),
    ),
    Mutation(
        id="stop-acks-what-it-had-not-started",
        guarantee="a stopping consumer gives back the deliveries it had not started",
        file="shared/messaging/consumer.py",
        find="await settle(self._buffer.get_nowait(), ack=False)",
        replace="await settle(self._buffer.get_nowait(), ack=True)",
        tests=(
            "tests/integration/test_consumer_shutdown.py::"
            "test_a_stopping_consumer_gives_back_the_deliveries_it_had_not_started",
        ),
    ),
    Mutation(
        id="direct-nack-drops",
        guarantee="a delivery given back (not acknowledged) returns to its queue",
        file="shared/messaging/delivery.py",
        find="basic_nack(self._tag, multiple=multiple, requeue=requeue)",
        replace="basic_nack(self._tag, multiple=multiple, requeue=False)",
        tests=(
            "tests/integration/test_consumer_shutdown.py::"
            "test_a_stopping_consumer_gives_back_the_deliveries_it_had_not_started",
        ),
    ),
    # --- retries and dead letters --------------------------------------------------------
    Mutation(
        id="retry-counter-stuck",
        guarantee="each retry counts its attempt, so a failure is dead-lettered after the last",
        file="shared/messaging/failure_policy.py",
        find="{**kept, h.RETRY_ATTEMPT: attempt, **failure}",
        replace="{**kept, h.RETRY_ATTEMPT: attempt - 1, **failure}",
        tests=(
            "tests/unit/test_failure_policy.py",
            f"{DM}::test_a_retry_copy_goes_to_the_retry_queue_of_its_attempt_with_the_attempt_counted",
        ),
        quick=True,
    ),
    Mutation(
        id="permanent-error-retried",
        guarantee="a PermanentError is dead-lettered at once, without retries",
        file="shared/messaging/failure_policy.py",
        find="return isinstance(error, PermanentError | InvalidMessage",
        replace="return isinstance(error, InvalidMessage",
        tests=(f"{DM}::test_a_permanent_error_skips_the_retries",),
        quick=True,
    ),
    Mutation(
        id="dead-letter-reason-dropped",
        guarantee="a dead letter says why in x-dead-letter-reason",
        file="shared/messaging/failure_policy.py",
        find="            h.DEAD_LETTER_REASON: reason,\n",
        replace="",
        tests=(
            "tests/unit/test_failure_policy.py",
            f"{DM}::test_after_the_last_attempt_the_copy_goes_to_the_dead_letter_exchange",
        ),
        quick=True,
    ),
    Mutation(
        id="copy-not-persistent",
        guarantee="retry and dead-letter copies are persistent messages",
        file="shared/messaging/delivery.py",
        find="delivery_mode=PERSISTENT,",
        replace="delivery_mode=1,  # not persistent",
        tests=(
            f"{DM}::test_a_retry_copy_goes_to_the_retry_queue_of_its_attempt_with_the_attempt_counted",
        ),
        quick=True,
    ),
    Mutation(
        id="delivery-limit-dropped",
        guarantee="a message that keeps killing its consumer is dead-lettered by the broker",
        file="shared/contract/topology.py",
        find='            "x-delivery-limit": DELIVERY_LIMIT,\n',
        replace="",
        tests=(
            "tests/unit/test_topology.py::"
            "test_a_work_queue_is_quorum_and_dead_letters_at_least_once_to_its_dlx",
        ),
        quick=True,
    ),
    Mutation(
        id="exchange-not-durable",
        guarantee="exchanges are durable",
        file="shared/messaging/declare.py",
        find="await channel.declare_exchange(name, aio_pika.ExchangeType.FANOUT, durable=True)",
        replace="await channel.declare_exchange(name, aio_pika.ExchangeType.FANOUT, durable=False)",
        tests=("tests/unit/test_topology.py::test_declare_makes_every_exchange_a_durable_fanout",),
        quick=True,
    ),
    # --- only a trusted producer's events are applied ------------------------------------
    Mutation(
        id="signature-skipped",
        guarantee="an event is applied only if its signature proves its producer",
        file="shared/messaging/processing.py",
        find=(
            "            producer = self._verifier.verify(delivery.headers or {}, delivery.body)\n"
            "            envelope = decode(delivery.body)\n"
        ),
        replace=(
            "            envelope = decode(delivery.body)\n"
            '            producer = {"/order-service": "order", "/inventory-service": "inventory"}'
            '.get(envelope.source, "")\n'
        ),
        tests=(
            f"{DM}::test_an_event_not_proven_to_come_from_its_producer_is_dead_lettered_and_changes_nothing",
        ),
        quick=True,
    ),
    Mutation(
        id="signature-not-checked",
        guarantee="a signature is checked against the body, not only its key id",
        file="shared/contract/signing.py",
        find="            verify_key.verify(body, base64.b64decode(signature, validate=True))\n",
        replace="            base64.b64decode(signature, validate=True)\n",
        tests=("tests/unit/test_signing.py",),
        quick=True,
    ),
    Mutation(
        id="producer-allowed-skipped",
        guarantee="an event is applied only if its producer may publish its type",
        file="shared/messaging/processing.py",
        find="                authorize(producer, envelope)\n",
        replace="",
        tests=(
            f"{DM}::test_an_event_not_proven_to_come_from_its_producer_is_dead_lettered_and_changes_nothing",
        ),
        quick=True,
    ),
    # --- an accepted order is never without its event ------------------------------------
    Mutation(
        id="publish-not-mandatory",
        guarantee="an unroutable event is an error that keeps it in the outbox, not a loss; "
        "a replayed copy no queue takes is an error, and the letter stays",
        file="shared/messaging/delivery.py",
        find="        mandatory=True,\n",
        replace="        mandatory=False,\n",
        tests=(
            f"{PUBLISHING}::test_an_event_no_queue_takes_is_refused_and_stays_in_the_outbox",
            f"{DLQ_TOOLS}::test_a_dead_letter_whose_queue_is_gone_stays_in_the_dlq_when_replayed",
        ),
        quick=True,
    ),
    Mutation(
        id="publisher-confirms-off",
        guarantee="an event counts as published only once the broker confirms it",
        file="shared/messaging/broker.py",
        find="connection.channel(publisher_confirms=True, on_return_raises=True)",
        # (aio-pika refuses on_return_raises without confirms: both go.)
        replace="connection.channel(publisher_confirms=False, on_return_raises=False)",
        tests=(f"{PUBLISHING}::test_an_event_no_queue_takes_is_refused_and_stays_in_the_outbox",),
    ),
    Mutation(
        id="returned-event-not-an-error",
        guarantee="an event the broker returns (no queue took it) is an error, not a success",
        file="shared/messaging/broker.py",
        find="connection.channel(publisher_confirms=True, on_return_raises=True)",
        replace="connection.channel(publisher_confirms=True, on_return_raises=False)",
        tests=(f"{PUBLISHING}::test_an_event_no_queue_takes_is_refused_and_stays_in_the_outbox",),
    ),
    Mutation(
        id="event-not-persistent",
        guarantee="published events are persistent messages",
        file="shared/messaging/broker.py",
        find="delivery_mode=PERSISTENT,",
        replace="delivery_mode=1,  # not persistent",
        tests=(f"{DM}::test_a_confirmed_publish_is_marked_published",),
        quick=True,
    ),
    Mutation(
        id="failed-publish-marked-published",
        guarantee="an outbox row is marked published only once the broker confirmed it",
        file="shared/messaging/outbox_relay.py",
        find="self._confirmed.add(m.id for m, r in outcomes if not isinstance(r, BaseException))",
        replace="self._confirmed.add(m.id for m, r in outcomes)",
        tests=(f"{DM}::test_a_refused_publish_stays_in_the_outbox_until_the_broker_takes_it",),
        quick=True,
    ),
    Mutation(
        id="sweep-never-claims",
        guarantee="what the relay missed (failed publish, crash, broker away) is swept up",
        file="shared/messaging/outbox_relay.py",
        find="while batch := await self._storage.claim_due(self._batch_size):",
        replace="while batch := []:",
        tests=(
            f"{DM}::test_a_refused_publish_stays_in_the_outbox_until_the_broker_takes_it",
            "tests/integration/test_outbox.py::"
            "test_unpublished_rows_are_swept_out_exactly_once_by_competing_relays",
        ),
        quick=True,
    ),
    Mutation(
        id="outbox-row-not-leased",
        guarantee="a row being published after its commit is not swept by another relay",
        file="shared/persistence/outbox_store.py",
        find="claimed_until = sql.time(utcnow() + self._lease)",
        replace="claimed_until = sql.time(utcnow())",
        tests=(f"{TX}::test_a_row_handed_over_at_commit_is_not_swept_while_its_lease_runs",),
    ),
    Mutation(
        id="claim-not-leased",
        guarantee="a row claimed by one relay's sweep is not claimed by another's",
        file="shared/persistence/sql.py",
        find=".values(claimed_until=lease_until)",
        replace=".values(claimed_until=now)",
        tests=(
            f"{TX}::test_a_row_claimed_by_a_sweep_is_not_claimed_again_while_its_lease_runs",
            "tests/integration/test_outbox.py::"
            "test_unpublished_rows_are_swept_out_exactly_once_by_competing_relays",
        ),
    ),
    Mutation(
        id="outbox-not-written",
        guarantee="staged events are stored in the outbox in the transaction of their change",
        file="shared/persistence/unit_of_work.py",
        find="                self._outbox.insert(conn, staged)\n",
        replace="                pass\n",
        tests=(f"{TX}::test_staged_events_are_stored_in_the_outbox_with_the_change",),
        quick=True,
    ),
    Mutation(
        id="handed-over-before-commit",
        guarantee="an event is never published for a change that rolled back",
        file="shared/persistence/unit_of_work.py",
        find=(
            "                self._outbox.insert(conn, staged)\n"
            "            return result, uow, staged\n"
        ),
        replace=(
            "                self._outbox.insert(conn, staged)\n"
            "                if self._on_committed is not None:\n"
            "                    self._on_committed(staged)\n"
            "                staged = []\n"
            "            return result, uow, staged\n"
        ),
        tests=(f"{TX}::test_events_of_a_transaction_that_failed_are_never_handed_over",),
        quick=True,
    ),
    # --- no oversell -----------------------------------------------------------------------
    Mutation(
        id="no-row-lock",
        guarantee="reservations lock the stock rows they touch (two processes stay exact)",
        file="inventory_service/adapters/repository.py",
        find=' + (" FOR UPDATE" if self._sql.postgres else ""),\n',
        replace=",\n",
        tests=(
            "tests/integration/test_crash_and_competition.py::"
            "test_two_consumers_on_one_queue_never_oversell[postgresql]",
        ),
        quick=True,
    ),
    # --- bad requests change nothing -------------------------------------------------------
    Mutation(
        id="idempotency-conflict-ignored",
        guarantee="an Idempotency-Key reused for another body is a conflict",
        file="order_service/handlers.py",
        find="    if order.request_hash != command.fingerprint:\n",
        replace="    if False:\n",
        tests=(
            f"{ORDER_HANDLERS}::"
            "test_a_key_reused_for_other_content_is_a_conflict_for_that_command_alone",
        ),
        quick=True,
    ),
    Mutation(
        id="conflict-not-409",
        guarantee="an Idempotency-Key reused for another body gets 409",
        file="order_service/entrypoints/api/routes/orders.py",
        find="raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc",
        replace="raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from exc",
        tests=(
            "tests/integration/test_order_intake.py::"
            "test_concurrent_orders_and_repeated_keys_each_get_the_right_answer[sqlite]",
        ),
        quick=True,
    ),
    Mutation(
        id="line-limit-dropped",
        guarantee="an order has 1 to 100 lines (422 otherwise)",
        file="order_service/entrypoints/api/routes/orders.py",
        find="max_length=contracts.MAX_LINES",
        replace="max_length=None",
        tests=(
            f"{ORDER_API}::test_an_order_beyond_the_limits_gets_422_and_is_neither_stored_nor_published",
        ),
        quick=True,
    ),
    Mutation(
        id="order-quantity-limit-dropped",
        guarantee="an order line's quantity is 1 to 10,000 (422 otherwise)",
        file="order_service/entrypoints/api/routes/orders.py",
        find="quantity: int = Field(ge=1, le=contracts.MAX_QUANTITY)",
        replace="quantity: int = Field(ge=1)",
        tests=(
            f"{ORDER_API}::test_an_order_beyond_the_limits_gets_422_and_is_neither_stored_nor_published",
        ),
    ),
    Mutation(
        id="quantity-limit-dropped",
        guarantee="an event's line has a quantity of 1 to 10,000 (dead-lettered otherwise)",
        file="shared/contract/events.py",
        find="quantity: int = Field(ge=1, le=MAX_QUANTITY)",
        replace="quantity: int = Field(ge=1)",
        tests=("tests/unit/test_contracts.py",),
        quick=True,
    ),
    # --- the read API ------------------------------------------------------------------
    Mutation(
        id="order-status-filter-ignored",
        guarantee="GET /orders?status= lists the orders of that status only",
        file="order_service/adapters/repository.py",
        find="            query = query.where(orders.c.status == status.value)\n",
        replace="            query = query\n",
        tests=(f"{ORDER_API}::test_orders_are_listed_newest_first_and_filtered_by_exact_status",),
    ),
    Mutation(
        id="orders-oldest-first",
        guarantee="GET /orders lists the newest first",
        file="order_service/adapters/repository.py",
        find="select(orders).order_by(orders.c.created_at.desc()).limit(limit)",
        replace="select(orders).order_by(orders.c.created_at).limit(limit)",
        tests=(f"{ORDER_API}::test_orders_are_listed_newest_first_and_filtered_by_exact_status",),
    ),
    Mutation(
        id="orders-limit-ignored",
        guarantee="GET /orders?limit=n lists at most n",
        file="order_service/adapters/repository.py",
        find="select(orders).order_by(orders.c.created_at.desc()).limit(limit)",
        replace="select(orders).order_by(orders.c.created_at.desc())",
        tests=(f"{ORDER_API}::test_the_order_list_takes_a_limit_of_1_to_1000",),
    ),
    Mutation(
        id="orders-limit-floor-dropped",
        guarantee="GET /orders refuses limit=0 (422)",
        file="order_service/entrypoints/api/routes/orders.py",
        find="Query(ge=1, le=1000)",
        replace="Query(ge=0, le=1000)",
        tests=(f"{ORDER_API}::test_the_order_list_takes_a_limit_of_1_to_1000",),
    ),
    Mutation(
        id="orders-limit-ceiling-dropped",
        guarantee="GET /orders refuses limit=1001 (422)",
        file="order_service/entrypoints/api/routes/orders.py",
        find="Query(ge=1, le=1000)",
        replace="Query(ge=1, le=100_000)",
        tests=(f"{ORDER_API}::test_the_order_list_takes_a_limit_of_1_to_1000",),
    ),
    Mutation(
        id="notifications-oldest-first",
        guarantee="GET /notifications lists the newest first",
        file="notification_service/adapters/repository.py",
        find=".order_by(notifications.c.created_at.desc())",
        replace=".order_by(notifications.c.created_at)",
        tests=(f"{NOTIFICATION_API}::test_notifications_are_listed_newest_first_up_to_the_limit",),
    ),
    Mutation(
        id="notifications-limit-unbounded",
        guarantee="GET /notifications takes a limit of 1 to 1000 (422 otherwise)",
        file="notification_service/entrypoints/api/routes/notifications.py",
        find="Query(ge=1, le=1000)",
        replace="Query()",
        tests=(f"{NOTIFICATION_API}::test_notifications_are_listed_newest_first_up_to_the_limit",),
    ),
    Mutation(
        id="stock-level-unbounded",
        guarantee="PUT /stock takes 0 to 2^31-1 available (422 otherwise)",
        file="inventory_service/entrypoints/api/routes/stock.py",
        find="available: int = Field(ge=0, le=2**31 - 1)",
        replace="available: int",
        tests=(f"{STOCK_API}::test_setting_stock_refuses_what_is_not_a_level",),
    ),
    Mutation(
        id="stock-sku-pattern-dropped",
        guarantee="PUT /stock/{sku} refuses a sku the contract would refuse (422)",
        file="inventory_service/entrypoints/api/routes/stock.py",
        find="Path(min_length=1, max_length=64, pattern=SKU_PATTERN)",
        replace="Path(min_length=1, max_length=64)",
        tests=(f"{STOCK_API}::test_setting_stock_refuses_what_is_not_a_level",),
    ),
    Mutation(
        id="stock-set-drops-reserved",
        guarantee="PUT /stock sets what is available and keeps what is reserved",
        file="inventory_service/adapters/repository.py",
        find='set_={"available": available, "updated_at": now}',
        replace='set_={"available": available, "reserved": 0, "updated_at": now}',
        tests=(f"{STOCK_API}::test_setting_stock_keeps_what_is_reserved",),
    ),
    Mutation(
        id="live-depends-on-the-broker",
        guarantee="/health/live answers 200 while the broker is away (only ready says 503)",
        file="shared/web/health.py",
        find='async def live() -> dict[str, str]:\n    return {"status": "ok"}\n',
        replace=(
            "async def live(request: Request) -> JSONResponse:\n"
            "    checks = await request.app.state.host.readiness()\n"
            '    return JSONResponse({"status": "ok"}, 200 if all(checks.values()) else 503)\n'
        ),
        tests=(
            "tests/integration/test_broker_outage.py::"
            "test_services_keep_serving_and_stop_promptly_while_the_broker_is_unreachable",
        ),
        quick=True,  # caught only in a service process: proves those run the mutated copy
    ),
    # --- dead letters: listed, replayed, purged ------------------------------------------
    Mutation(
        id="dlq-limit-ignored",
        guarantee="GET /admin/dead-letters/{queue}?limit=n lists at most n",
        file="shared/web/dead_letter_routes.py",
        find="await dlq.peek(limit)",
        replace="await dlq.peek()",
        tests=(
            f"{DLQ_TOOLS}::test_dead_letters_are_listed_up_to_the_limit_and_replayed_by_type_or_error_type",
        ),
    ),
    Mutation(
        id="cli-limit-ignored",
        guarantee="the CLI's list --limit n lists at most n",
        file="shared/process/dead_letter_cli.py",
        find="await dlq.peek(args.limit)",
        replace="await dlq.peek()",
        tests=(f"{DLQ_TOOLS}::test_the_command_line_lists_shows_and_replays_dead_letters",),
    ),
    Mutation(
        id="cli-show-without-body",
        guarantee="the CLI's show gives a dead letter's headers and body",
        file="shared/process/dead_letter_cli.py",
        find="letter.detail() for letter in await dlq.find(args.message_id)",
        replace="letter.summary() for letter in await dlq.find(args.message_id)",
        tests=(f"{DLQ_TOOLS}::test_the_command_line_lists_shows_and_replays_dead_letters",),
    ),
    Mutation(
        id="cli-replay-purges",
        guarantee="the CLI's replay sends the dead letter back to its work queue",
        file="shared/process/dead_letter_cli.py",
        find='dlq.replay(selection) if args.command == "replay" else dlq.purge(selection)',
        replace="dlq.purge(selection)",
        tests=(f"{DLQ_TOOLS}::test_the_command_line_lists_shows_and_replays_dead_letters",),
    ),
    Mutation(
        id="replay-type-filter-ignored",
        guarantee="replay by event_type moves only the letters of that type",
        file="shared/messaging/dead_letters.py",
        find="(self.event_type is None or letter.event_type == self.event_type)",
        replace="True",
        tests=(
            f"{DLQ_TOOLS}::test_dead_letters_are_listed_up_to_the_limit_and_replayed_by_type_or_error_type",
        ),
    ),
    Mutation(
        id="replay-error-type-filter-ignored",
        guarantee="replay by error_type moves only the letters of that error type",
        file="shared/messaging/dead_letters.py",
        find="(self.error_type is None or letter.error_type == self.error_type)",
        replace="True",
        tests=(
            f"{DLQ_TOOLS}::test_dead_letters_are_listed_up_to_the_limit_and_replayed_by_type_or_error_type",
        ),
    ),
    Mutation(
        id="replay-acks-before-its-copy-is-confirmed",
        guarantee="a dead letter leaves the DLQ only once its replayed copy is confirmed",
        file="shared/messaging/dead_letters.py",
        find=(
            "                    if replay:\n"
            "                        await publish_confirmed(\n"
            "                            await channel.get_underlay_channel(),\n"
            '                            "",\n'
            "                            _target_queue(message, self.spec.name),\n"
            "                            _replayed_copy(message),\n"
            "                        )\n"
            "                    await message.ack()\n"
        ),
        replace=(
            "                    await message.ack()\n"
            "                    if replay:\n"
            "                        await publish_confirmed(\n"
            "                            await channel.get_underlay_channel(),\n"
            '                            "",\n'
            "                            _target_queue(message, self.spec.name),\n"
            "                            _replayed_copy(message),\n"
            "                        )\n"
        ),
        tests=(
            f"{DLQ_TOOLS}::test_a_dead_letter_whose_queue_is_gone_stays_in_the_dlq_when_replayed",
        ),
    ),
    Mutation(
        id="replay-keeps-the-attempts",
        guarantee="a replayed message starts its retries afresh",
        file="shared/messaging/dead_letters.py",
        find="if k not in h.FAILURE}",
        replace="}",
        tests=(f"{DLQ_TOOLS}::test_the_command_line_lists_shows_and_replays_dead_letters",),
    ),
    # --- notifications -------------------------------------------------------------------
    Mutation(
        id="sent-notification-not-marked",
        guarantee="a notification is sent once: marked sent right after the channel took it",
        file="notification_service/adapters/repository.py",
        find="(Status.SENT.value, n.attempts + 1, n.recipient, sql.time(at), sql.uuid(n.id))",
        replace="(Status.PENDING.value, n.attempts + 1, n.recipient, sql.time(at), sql.uuid(n.id))",
        tests=(
            "tests/integration/test_email.py::"
            "test_each_notification_is_mailed_once_with_a_stable_message_id",
        ),
    ),
    Mutation(
        id="sent-before-commit",
        guarantee="a notification is sent only once the transaction recording it committed",
        file="notification_service/unit_of_work.py",
        find="            self.on_commit(lambda: self.hand_to_sender(ready))\n",
        replace="            self.hand_to_sender(ready)\n",
        tests=(
            "tests/unit/test_notification_handlers.py::"
            "test_each_handler_hands_what_is_ready_to_the_sender_once_committed_and_not_before",
        ),
        quick=True,
    ),
)


def by_id(ids: list[str]) -> list[Mutation]:
    known = {m.id: m for m in CATALOGUE}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise KeyError(f"no such mutation: {', '.join(unknown)}")
    return [known[i] for i in ids]
