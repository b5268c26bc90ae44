"""Identity: real-name and real-person verification of citizens."""
