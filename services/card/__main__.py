"""``python -m services.card``: run the card service."""

from services.card.app import create_app
from services.card.settings import CardSettings
from shared.app import load_settings, serve

settings = load_settings(CardSettings)
serve(create_app(settings), "card", settings)
