"""Entry point of the Celery processes: ``celery -A exchange.worker worker`` and ``… beat``."""
from app import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
