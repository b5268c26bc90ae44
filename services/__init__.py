"""The four services of the platform."""
