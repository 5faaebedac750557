"""One router module per resource; ``consent.main`` includes them."""
