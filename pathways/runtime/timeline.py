"""A simulated timeline as the dated table `carepath simulate` prints."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pathways.runtime.simulation import Timeline


def render_timeline(timeline: Timeline, zone: ZoneInfo) -> str:
    """One line per task and wait: day, step, role, ready, due, done, in clinic time."""

    def when(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%a %Y-%m-%d %H:%M") if moment else "-"

    lines = [f"{'day':>4}  {'step':44} {'role':22} {'ready':20} {'due':20} {'done':20}"]
    for row in sorted(timeline.rows, key=lambda r: (r.ready, r.done or r.ready)):
        day = (row.ready - timeline.start).days
        label = row.title if row.kind == "task" else f"[wait] {row.step}"
        ended = "" if row.ended in ("completed", "") else f"  ({row.ended})"
        lines.append(
            f"{day:>4}  {label[:44]:44} {row.role[:22]:22} {when(row.ready):20} "
            f"{when(row.due):20} {when(row.done):20}{ended}"
        )
    days = (timeline.end - timeline.start).days
    ending = timeline.outcome or timeline.status
    lines.append(
        f"ended: {ending} on {when(timeline.end)}, {days} days after the start; "
        f"{sum(r.ended == 'completed' for r in timeline.rows)} steps done"
    )
    if timeline.note:
        lines.append(timeline.note)
    return "\n".join(lines)
