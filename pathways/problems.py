"""Problems found in a definition, reported as FILE:LINE:COL: WHERE: message + hint."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Span:
    """A 1-based line and column in a source file."""

    line: int
    column: int


NOWHERE = Span(1, 1)


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a definition, with where it is and how to fix it."""

    file: str
    line: int
    column: int
    where: str
    message: str
    hint: str = ""
    over_limit: bool = False  # a bound of the language (pathways/limits.py), not a mistake

    def render(self) -> str:
        """The problem as the validator prints it."""
        head = f"{self.file}:{self.line}:{self.column}: {self.where}: {self.message}"
        return f"{head}\n    hint: {self.hint}" if self.hint else head


@dataclass
class Problems:
    """Collects every problem in one file, so all are reported at once."""

    file: str
    found: list[Problem] = field(default_factory=list)

    def add(
        self, span: Span, where: str, message: str, hint: str = "", *, over_limit: bool = False
    ) -> None:
        """Record a problem at a position."""
        self.found.append(
            Problem(self.file, span.line, span.column, where, message, hint, over_limit)
        )

    def over_limit(self) -> bool:
        """Whether a bound of the language was passed (further checks would not be bounded)."""
        return any(problem.over_limit for problem in self.found)

    def __bool__(self) -> bool:
        return bool(self.found)


def did_you_mean(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """A 'did you mean' hint naming the closest choice, or the list of choices."""
    from difflib import get_close_matches

    close = get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    listed = ", ".join(sorted(choices))
    return f"expected one of: {listed}" if listed else ""
