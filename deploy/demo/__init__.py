"""Made-up citizens and the gateways they meet, kept apart from the stack manager: the demo's
journeys (journeys.py), the showcase of every rule (showcase.py with scenes.py and money.py),
fake citizens and a face provider (citizens.py), and the local delivery sink (sink.py).
Everything here talks to the services only through their HTTP APIs."""
