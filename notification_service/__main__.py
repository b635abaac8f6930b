from notification_service.config import NotificationSettings
from notification_service.entrypoints.app import create_app
from shared.process.serve import serve

if __name__ == "__main__":
    serve(NotificationSettings(), create_app)
