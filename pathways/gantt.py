"""Draws a simulated timeline as a Gantt chart (SVG or PNG) with matplotlib.

An adapter: it writes a file, so it stays outside the pure engine core.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pathways.runtime.simulation import Timeline

_COLOURS = {"task": "#2f6db5", "wait": "#b8c4d6", "cancelled": "#d9534f"}


def draw(timeline: Timeline, title: str, path: Path, zone: ZoneInfo) -> None:
    """Write the chart to `path`; the suffix (.svg or .png) picks the format."""
    if path.suffix.lower() not in (".svg", ".png"):
        raise ValueError(f"a Gantt chart is written as .svg or .png, not '{path.suffix}'")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    rows = [row for row in timeline.rows if row.done is not None]
    height = max(3.0, 0.28 * len(rows) + 1.5)
    figure, axes = plt.subplots(figsize=(12, height))
    for index, row in enumerate(rows):
        assert row.done is not None
        start = row.ready.astimezone(zone)
        length = max((row.done - row.ready).total_seconds() / 86400, 0.15)
        colour = _COLOURS["cancelled"] if row.ended == "cancelled" else _COLOURS[row.kind]
        axes.barh(index, length, left=mdates.date2num(start), color=colour, height=0.7)
        if row.kind == "task":
            axes.plot(
                mdates.date2num(row.due.astimezone(zone)),
                index,
                marker="|",
                color="#222222",
                markersize=9,
            )
    axes.set_yticks(range(len(rows)))
    axes.set_yticklabels(
        [f"{row.title[:48]} ({row.role})" if row.role else row.title[:60] for row in rows],
        fontsize=7,
    )
    axes.invert_yaxis()
    axes.xaxis_date(tz=zone)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %Y", tz=zone))
    axes.grid(axis="x", color="#e5e5e5")
    axes.set_title(
        f"{title}: {timeline.start.astimezone(zone):%d %b %Y} to "
        f"{timeline.end.astimezone(zone):%d %b %Y} ({timeline.outcome or timeline.status})",
        fontsize=10,
    )
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, format=path.suffix.lower()[1:], metadata=_metadata(path))
    plt.close(figure)


def _metadata(path: Path) -> dict[str, str | None]:
    # Fixed metadata keeps SVG output identical from run to run.
    return {"Date": None} if path.suffix.lower() == ".svg" else {}
