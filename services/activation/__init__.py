"""Activation: turning on a card's social security function, by every channel."""
