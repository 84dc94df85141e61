"""The `carepath` click group that every command module registers its commands on.

Its own module so that the command modules (cli, cli_operations, cli_events, cli_webhooks)
depend on it and never on each other's entry point: no import cycle between them.
"""

from __future__ import annotations

import click


@click.group()
def cli() -> None:
    """carepath: care pathways for spinal-cancer treatment."""
