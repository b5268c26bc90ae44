"""The notification service's domain errors."""

from shared.errors import DomainError


class NotificationError(DomainError):
    """Base of every refusal by the notification service."""

    code = "NOTIFICATION_ERROR"


class NotificationNotFoundError(NotificationError):
    code = "NOTIFICATION_NOT_FOUND"
    default_message = "No message with this id."


class NotFailedError(NotificationError):
    code = "NOTIFICATION_NOT_FAILED"
    default_message = "Only a message whose delivery failed can be retried."


class NoChannelError(NotificationError):
    code = "NO_CHANNEL"
    default_message = "Choose at least one channel: required messages must reach the person."


class ContactMissingError(NotificationError):
    code = "CONTACT_MISSING"
    default_message = "SMS needs a mobile number and email needs an address."
