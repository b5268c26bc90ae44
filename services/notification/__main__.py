"""``python -m services.notification``: run the notification service."""

from services.notification.app import create_app
from services.notification.settings import NotificationSettings
from shared.app import load_settings, serve

settings = load_settings(NotificationSettings)
serve(create_app(settings), "notification", settings)
