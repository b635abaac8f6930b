from inventory_service.config import InventorySettings
from inventory_service.entrypoints.app import create_app
from shared.process.serve import serve

if __name__ == "__main__":
    serve(InventorySettings(), create_app)
