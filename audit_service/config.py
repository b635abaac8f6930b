from typing import ClassVar

from pydantic import Field, SecretStr

from shared.process.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    service_name: ClassVar[str] = "audit"
    default_port: ClassVar[int] = 8003

    # The other services, as the audit service reaches them: the page's order form posts
    # through the order service; an order's status, its notifications and the dead letters
    # are read from their HTTP APIs (the stream carries only what they publish).
    order_service_url: str = "http://127.0.0.1:8000"
    inventory_service_url: str = "http://127.0.0.1:8001"
    notification_service_url: str = "http://127.0.0.1:8002"
    # Their ADMIN_TOKEN, to list orders and read dead letters (unset: their endpoints are open).
    services_admin_token: SecretStr | None = None

    # RabbitMQ's management API, for queue depths and consumers (unset, or unreachable: the
    # same figures from passive declarations over AMQP, ready messages only). User and
    # password default to the AMQP URL's.
    rabbitmq_management_url: str | None = None
    rabbitmq_management_username: str | None = None
    rabbitmq_management_password: SecretStr | None = None

    # Jaeger's UI (say http://127.0.0.1:16686): each order links to its trace.
    jaeger_ui_url: str | None = None

    page_orders: int = Field(default=20, ge=1, le=200)  # orders the page shows on load
    # An order's status and notifications are followed for this long after its last event,
    # every follow_up_interval seconds, and only while some are missing.
    follow_up_seconds: float = Field(default=120.0, gt=0)
    follow_up_interval: float = Field(default=0.5, gt=0)
    health_interval: float = Field(default=2.0, gt=0)  # queue depths, dead letters
    http_client_timeout: float = Field(default=5.0, gt=0)
