"""Training a method: the loop that owns the optimiser step, its saved state, and checkpoints."""
