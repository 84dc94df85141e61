"""carepath's engine: the pathway language, its validator and compiler, and the pure runtime."""
