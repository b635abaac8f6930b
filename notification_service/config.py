from typing import ClassVar

from pydantic import Field

from shared.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    service_name: ClassVar[str] = "notification"
    default_port: ClassVar[int] = 8002

    dispatch_batch_size: int = Field(default=64, ge=1)
    dispatch_max_attempts: int = Field(default=8, ge=1)
    dispatch_lease_seconds: float = Field(default=30.0, gt=0)
