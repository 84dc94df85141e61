"""The chaos soak: `python -m bench.soak` (see docs/operations.md, "Chaos soak")."""
