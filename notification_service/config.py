from typing import ClassVar

from pydantic import Field, SecretStr

from shared.process.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    service_name: ClassVar[str] = "notification"
    default_port: ClassVar[int] = 8002

    dispatch_batch_size: int = Field(default=64, ge=1)
    dispatch_max_attempts: int = Field(default=8, ge=1)
    dispatch_lease_seconds: float = Field(default=30.0, gt=0)
    dispatch_retry_base_seconds: float = Field(default=1.0, gt=0)

    # E-mail: sent over SMTP when SMTP_HOST is set, otherwise notifications are logged.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "orders@example.com"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout: float = Field(default=10.0, gt=0)
