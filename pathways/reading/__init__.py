"""Reads YAML nodes into the neutral model, reporting every structural problem on the way."""
