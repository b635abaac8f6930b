import dataclasses
import math
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.contract import topology
from shared.messaging.broker import node_urls


class ServiceSettings(BaseSettings):
    """Environment-driven settings common to every service.

    Each service subclasses this once, naming itself and its default port. Nothing is
    read at import time: a service builds its settings in its entrypoint.
    """

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    service_name: ClassVar[str]
    default_port: ClassVar[int]

    amqp_url: str = "amqp://guest:guest@localhost:5672/"
    # The other nodes of the broker's cluster ("host[:port]", comma-separated), reached with
    # AMQP_URL's user, password, vhost and options: the connection fails over to the next
    # one whenever the node it uses is lost (shared.messaging.broker.FailoverConnection).
    amqp_failover_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    # True: declare the whole topology at start, so start order never matters (one broker
    # user allowed everything, as locally). False: only check that it is there, for a user
    # allowed to configure nothing but its own work queues (compose: the broker's definitions
    # declare the topology before any service starts).
    declare_topology: bool = True
    # The event log's retention (shared.contract.topology.AUDIT_STREAM): part of the topology
    # every service declares, so every service must be given the same values (the broker
    # refuses a stream declared again with other arguments).
    audit_stream_max_age: str = Field(
        default=topology.DEFAULT_STREAM_MAX_AGE, pattern=r"^[1-9][0-9]{0,5}[YMDhms]$"
    )
    audit_stream_max_length_bytes: int = Field(
        default=topology.DEFAULT_STREAM_MAX_LENGTH_BYTES, ge=1_000_000
    )
    database_url: str | None = None
    var_dir: Path = Path("var")

    http_host: str = "127.0.0.1"
    http_port: int = 0
    # What an HTTP client may send and how long it may take (shared.web, shared.process.serve):
    # the largest request body; seconds an idle connection is kept between requests; seconds
    # a client has to send a whole request (line, headers, body), counted from the opening of
    # its connection or the end of the previous response; the largest request line and
    # headers; connections at once (more get 503).
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    http_keep_alive_timeout: int = Field(default=5, ge=1)
    http_read_timeout: float = Field(default=10.0, gt=0)
    http_max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    http_max_connections: int = Field(default=512, ge=1)

    # Bearer token for the /admin endpoints; unset means they are open (development only).
    admin_token: SecretStr | None = None

    # Event signing (shared.contract.signing). Both unset: local development keys, made on
    # first use under <var_dir>/keys and trusted by every service sharing that directory.
    # EVENT_SIGNING_KEYS: "<producer>:<key id>:<base64 seed>", comma-separated; a service
    # signs with the one naming it as producer. EVENT_TRUSTED_KEYS: the public keys it
    # accepts events from, "<producer>:<key id>:<base64 public key>", comma-separated.
    event_signing_keys: SecretStr | None = None
    event_trusted_keys: str | None = None

    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"

    # Consumers
    prefetch_count: int = Field(default=256, ge=1, le=65535)
    consumer_batch_size: int = Field(default=64, ge=1)
    # With several consumers (the notification service's two queues): how long a message
    # that finds the service idle waits for the others' before its transaction, so that
    # what arrives together commits together (shared.core.group_commit). 0: never waits.
    consumer_linger_seconds: float = Field(default=0.005, ge=0, le=1)
    retry_delays: Annotated[tuple[float, ...], NoDecode] = (1.0, 5.0, 30.0)

    # Outbox relay
    outbox_batch_size: int = Field(default=256, ge=1)
    outbox_poll_interval: float = Field(default=1.0, gt=0)
    outbox_lease_seconds: float = Field(default=10.0, gt=0)
    outbox_retention_seconds: float = Field(default=24 * 3600, ge=0)

    # Pruning (shared.persistence.retention): inbox rows are kept far longer than any copy
    # of an event can arrive after the first; every `retention_interval` seconds, rows past
    # their retention are deleted `prune_batch_size` at a time, with a pause of at least
    # `prune_pause` seconds between batches (SQLite has one writer).
    inbox_retention_seconds: float = Field(default=7 * 24 * 3600, ge=0)
    retention_interval: float = Field(default=60.0, gt=0)
    prune_batch_size: int = Field(default=500, ge=1, le=10_000)
    prune_pause: float = Field(default=0.05, ge=0)

    # How often the depth and consumers of this service's queues are read (metrics).
    queue_watch_seconds: float = Field(default=15.0, gt=0)

    # SQLite only
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "FULL"

    @field_validator("amqp_failover_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def amqp_urls(self) -> list[str]:
        """AMQP_URL, then the same on each of AMQP_FAILOVER_HOSTS."""
        return node_urls(self.amqp_url, self.amqp_failover_hosts)

    @field_validator("retry_delays", mode="before")
    @classmethod
    def _split_delays(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(float(part) for part in value.replace(" ", "").split(",") if part)
        return value

    @field_validator("retry_delays")
    @classmethod
    def _positive_delays(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(not math.isfinite(delay) or delay < 0.001 for delay in value):
            raise ValueError("every retry delay must be a finite number of seconds >= 0.001")
        return value

    def model_post_init(self, __context: object) -> None:
        if not self.http_port:
            self.http_port = self.default_port

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.var_dir / f'{self.service_name}.db'}"

    @property
    def streams(self) -> tuple[topology.StreamSpec, ...]:
        """The topology's streams, with the retention these settings give."""
        return (
            dataclasses.replace(
                topology.AUDIT_STREAM,
                max_age=self.audit_stream_max_age,
                max_length_bytes=self.audit_stream_max_length_bytes,
            ),
        )

    @property
    def max_attempts(self) -> int:
        """Deliveries a message gets before it is dead-lettered: the first try plus one per
        configured retry delay."""
        return len(self.retry_delays) + 1
