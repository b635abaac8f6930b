"""A consumer as it was in the release before OrderPlaced v2: the same service, except that
it knows OrderPlaced v1 only (what an old deployment is during a rolling upgrade).

    V1_ONLY_SERVICE=inventory|notification python -m tests.e2e.v1_only_consumer
"""

import os

from shared.contract.events import ORDER_PLACED, SCHEMAS
from shared.process.serve import serve

if __name__ == "__main__":
    # The one shared registry every consumer in this process parses with.
    SCHEMAS._models.pop((ORDER_PLACED, "2"))
    if os.environ["V1_ONLY_SERVICE"] == "inventory":
        from inventory_service.config import InventorySettings
        from inventory_service.entrypoints.app import create_app as inventory_app

        serve(InventorySettings(), inventory_app)
    else:
        from notification_service.config import NotificationSettings
        from notification_service.entrypoints.app import create_app as notification_app

        serve(NotificationSettings(), notification_app)
