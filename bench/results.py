"""What a benchmark reports: sections of rows (medians with spread) and targets met or missed.

Benchmarks are measurements, not tests: nothing here asserts a time. Each section measures
its comparisons side by side in one run, so ratios are between figures taken together.
"""

import os
import statistics
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    """One figure: repeated samples of the same measurement, in one unit."""

    name: str
    unit: str  # "patients/s", "ms", "MiB", ...
    samples: tuple[float, ...]
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def spread(self) -> str:
        """The range of the samples (min-max), or '' for a single sample."""
        if len(self.samples) < 2:
            return ""
        return f"{fmt(min(self.samples))}-{fmt(max(self.samples))}"


@dataclass(frozen=True)
class Target:
    """A goal from the issue, what this run achieved, and whether that meets it."""

    goal: str  # ">= 20x SpiffWorkflow in memory"
    achieved: str  # "34.1x"
    met: bool
    row: str = ""  # the name of the row whose median the goal is judged on, if one is


@dataclass
class Section:
    """One numbered part of the suite: its rows, its targets and how it was set up."""

    title: str  # "1. Core: chemotherapy, 1,000 patients"
    setup: str  # one or two sentences: sizes, processes, databases
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)


def json_rows(sections: list[Section]) -> list[dict[str, object]]:
    """Every row as plain data for other tools, with the target judged on it (if any)."""
    out: list[dict[str, object]] = []
    for section in sections:
        judged = {target.row: target for target in section.targets if target.row}
        for row in section.rows:
            target = judged.get(row.name)
            out.append(
                {
                    "section": section.title,
                    "name": row.name,
                    "median": row.median,
                    "min": min(row.samples),
                    "max": max(row.samples),
                    "unit": row.unit,
                    "target": target.goal if target else None,
                    "met": target.met if target else None,
                }
            )
    return out


def fmt(value: float) -> str:
    """A figure with sensible precision for a table."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def percentile(samples: list[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation; samples need not be sorted."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def peak_rss_mib(pid: int | None = None) -> float:
    """A live process's peak resident set (VmHWM) in MiB; this process when pid is None."""
    path = f"/proc/{pid or os.getpid()}/status"
    with open(path) as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM in {path}")
