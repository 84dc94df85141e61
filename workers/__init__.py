"""Background work: thin jobs that load by id, call the store and the engine, and commit."""
