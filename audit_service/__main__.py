from audit_service.config import AuditSettings
from audit_service.entrypoints.app import create_app
from shared.process.serve import serve

if __name__ == "__main__":
    serve(AuditSettings(), create_app)
