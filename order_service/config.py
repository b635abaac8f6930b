from typing import ClassVar

from shared.process.settings import ServiceSettings


class OrderSettings(ServiceSettings):
    service_name: ClassVar[str] = "order"
    default_port: ClassVar[int] = 8000
