"""``python -m services.identity``: run the identity service."""

from services.identity.app import create_app
from services.identity.settings import IdentitySettings
from shared.app import load_settings, serve

settings = load_settings(IdentitySettings)
serve(create_app(settings), "identity", settings)
