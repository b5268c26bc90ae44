"""``python -m services.activation``: run the activation service."""

from services.activation.app import create_app
from services.activation.settings import ActivationSettings
from shared.app import load_settings, serve

settings = load_settings(ActivationSettings)
serve(create_app(settings), "activation", settings)
