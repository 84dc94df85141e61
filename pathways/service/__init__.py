"""The write side: commands (commands.py), one handler each, and the bus that runs them.

Read one write from its route or command to its commit in three files: the adapter builds a
command, `bus.Service.handle` finds its handler, the handler module owns the unit of work.
"""
