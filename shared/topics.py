"""Topic names: a public contract. One events topic per service, one dead-letter topic per group."""

from typing import Final, Literal

Producer = Literal["identity", "card", "activation", "notification"]

IDENTITY_EVENTS: Final = "identity.events"
CARD_EVENTS: Final = "card.events"
ACTIVATION_EVENTS: Final = "activation.events"
NOTIFICATION_EVENTS: Final = "notification.events"

EVENTS_TOPIC: Final[dict[str, str]] = {
    "identity": IDENTITY_EVENTS,
    "card": CARD_EVENTS,
    "activation": ACTIVATION_EVENTS,
    "notification": NOTIFICATION_EVENTS,
}

#: Consumer groups and the topics each one reads. The group id is the consuming service's name.
CONSUMED_TOPICS: Final[dict[str, tuple[str, ...]]] = {
    "identity": (CARD_EVENTS, ACTIVATION_EVENTS),
    "card": (IDENTITY_EVENTS, ACTIVATION_EVENTS),
    "activation": (IDENTITY_EVENTS, CARD_EVENTS),
    "notification": (IDENTITY_EVENTS, CARD_EVENTS, ACTIVATION_EVENTS),
}

#: The group `shebao notifications retry` reads the notification dead letters under.
NOTIFICATION_RETRY_GROUP: Final = "notification-retry"


def dead_letter_topic(group: str) -> str:
    """The dead-letter topic of a consumer group, e.g. ``notification.dead-letter``."""
    return f"{group}.dead-letter"


def all_topics() -> list[str]:
    """Every topic the platform uses: the four event logs and each group's dead letters."""
    return [*EVENTS_TOPIC.values(), *(dead_letter_topic(g) for g in CONSUMED_TOPICS)]
