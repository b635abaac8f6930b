"""Every AMQP header name the system reads or writes, in one place: the consumer, the
dead-letter tooling and the admin API all spell them from here."""

# Set by a consumer when it moves a message to a retry queue or a dead-letter queue.
RETRY_ATTEMPT = "x-retry-attempt"  # failed attempts so far (the next delivery is one more)
FIRST_FAILURE_AT = "x-first-failure-at"
LAST_FAILURE_AT = "x-last-failure-at"
ERROR_TYPE = "x-error-type"
ERROR_MESSAGE = "x-error-message"
DEAD_LETTER_REASON = "x-dead-letter-reason"
ATTEMPTS = "x-attempts"  # deliveries it had when it was dead-lettered
SERVICE = "x-service"
ORIGINAL_QUEUE = "x-original-queue"

# Set by the dead-letter tooling on a replayed copy.
REPLAY_COUNT = "x-replay-count"
REPLAYED_AT = "x-replayed-at"

# Set by the broker itself.
DELIVERY_COUNT = "x-delivery-count"  # quorum queues: earlier deliveries of this message
DEATH = "x-death"
FIRST_DEATH_EXCHANGE = "x-first-death-exchange"
FIRST_DEATH_QUEUE = "x-first-death-queue"
FIRST_DEATH_REASON = "x-first-death-reason"
LAST_DEATH_EXCHANGE = "x-last-death-exchange"
LAST_DEATH_QUEUE = "x-last-death-queue"
LAST_DEATH_REASON = "x-last-death-reason"

# The broker sets these on delivery: a copy we publish must not carry them.
SET_BY_BROKER_ON_DELIVERY = (DELIVERY_COUNT,)

# What describes a past failure: not carried over to a replayed copy, which starts afresh.
FAILURE = (
    DEAD_LETTER_REASON,
    ERROR_TYPE,
    ERROR_MESSAGE,
    ATTEMPTS,
    SERVICE,
    ORIGINAL_QUEUE,
    FIRST_FAILURE_AT,
    LAST_FAILURE_AT,
    RETRY_ATTEMPT,
    DEATH,
    FIRST_DEATH_EXCHANGE,
    FIRST_DEATH_QUEUE,
    FIRST_DEATH_REASON,
    LAST_DEATH_EXCHANGE,
    LAST_DEATH_QUEUE,
    LAST_DEATH_REASON,
    DELIVERY_COUNT,
)

# Set by the producer when it stages an event (shared.contract.signing): they authenticate
# the body and travel with it unchanged through retries, dead-lettering and replay.
SIGNATURE = "x-signature"  # base64 Ed25519 signature of the body
SIGNATURE_KEY = "x-signature-key"  # the id of the key that signed it

# W3C trace context (shared.telemetry.tracing): the span a message continues. Set by the
# relay when it publishes; kept on retry, dead-letter and replay copies.
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
