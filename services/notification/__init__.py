"""Notification: telling citizens what happened, once per event."""
