"""The bounds of the pathway language, in one place (docs/language.md, "Limits").

Every bound is far above what a real pathway needs (the largest shipped definition is ~9 kB,
~570 values, 30 steps, nesting 12 deep) and low enough that reading and checking a definition
at the limits takes about a second of CPU and a few tens of MB (ruamel reads roughly 10,000
values a second). Reading enforces the parse-time bounds while it composes the YAML, so a
hostile text is refused before its tree is built.

No clock is used: validation time is bounded by these sizes, not by a deadline (the engine
core has no clock). Every check after parsing is linear or near-linear in the number of
steps, which MAX_STEPS caps.
"""

from __future__ import annotations

# While parsing (pathways/yamlsource.py).
MAX_DOCUMENT_BYTES = 256_000  # the whole file, UTF-8 encoded
MAX_DEPTH = 40  # nested mappings and lists; a deep pathway nests ~12
MAX_NODES = 10_000  # values, mappings and lists, counting what each alias repeats
MAX_ALIASES = 100  # uses of `*anchor`; each repeats its anchored value in full
MAX_SCALAR_CHARS = 10_000  # any single value or key

# While reading the language (pathways/reading/*).
MAX_STEPS = 500  # every step, nested ones included
MAX_ID_CHARS = 60  # ids and names: pathway, step, role, event, field, calendar, slot, outcome
MAX_TEXT_CHARS = 200  # titles, task and notify texts, units, enum values: one line on a worklist
MAX_LONG_TEXT_CHARS = 4_000  # instructions and descriptions
MAX_EXPRESSION_CHARS = 300  # `if`, `when` and `with` expressions

# The `where` of a problem that a limit raises, so callers can tell "too big" from "wrong".
LIMITS = "(limits)"
LIMITS_HINT = "see the Limits section of docs/language.md"


def too_long(what: str, length: int, limit: int) -> str:
    """The message for a text over its bound."""
    return f"{what} is {length:,} characters long; the limit is {limit:,}"
