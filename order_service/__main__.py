from order_service.config import OrderSettings
from order_service.entrypoints.app import create_app
from shared.process.serve import serve

if __name__ == "__main__":
    serve(OrderSettings(), create_app)
