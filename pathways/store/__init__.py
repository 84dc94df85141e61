"""Persistence (SQLModel): an adapter around the pure engine; only entry points import it."""
