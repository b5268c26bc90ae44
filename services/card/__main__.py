"""``python -m services.card``: run the card service."""

from services.card.app import create_app
from services.card.settings import CardSettings
from shared.app import serve

settings = CardSettings()
serve(create_app(settings), "card", settings)
