"""The pure runtime: `start` and `step` advance an enrollment; progress and simulation read it."""
