"""Where the four services answer, and the development API keys of the local stack."""

from __future__ import annotations

from dataclasses import dataclass

#: The local stack's development API keys, by role (refused in production).
KEYS = {
    "channel": "dev-online-hall",
    "agency": "dev-printing-agency",
    "courier": "dev-courier",
    "operator": "dev-operator",
}


@dataclass(frozen=True)
class Endpoints:
    """Base URLs of the four services (and of the local delivery sink, when one runs)."""

    identity: str
    card: str
    activation: str
    notification: str
    sink: str | None = None
    console: str | None = None

    def all(self) -> dict[str, str]:
        """Service name -> base URL."""
        return {
            "identity": self.identity,
            "card": self.card,
            "activation": self.activation,
            "notification": self.notification,
        }
