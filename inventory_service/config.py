from typing import ClassVar

from shared.process.settings import ServiceSettings


class InventorySettings(ServiceSettings):
    service_name: ClassVar[str] = "inventory"
    default_port: ClassVar[int] = 8001
