"""Fixtures of the service tests that need the delivery sink."""

from tests.service.delivery_kit import delivery, sink

__all__ = ["delivery", "sink"]
