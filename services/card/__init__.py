"""Card: the physical card's life, from application to delivery."""
