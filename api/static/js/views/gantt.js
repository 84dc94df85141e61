// The pathway as a Gantt chart in plain HTML: a lane per task or wait, bars from ready to done
// (or due), today, the projected end and the planned end as vertical markers.

import { h, humanize, when } from "../ui.js";

const DAY = 86400000;

export function gantt(detail) {
  const history = detail.history.length;
  const rows = [...detail.history, ...detail.timeline];
  if (!rows.length) return h("p", { class: "muted" }, "No steps yet.");
  const now = Date.now();
  const times = rows.flatMap((r) => [Date.parse(r.ready), Date.parse(r.done || r.due)]);
  const p = detail.progress;
  const ends = [p.projected_end, p.planned_end].filter(Boolean).map(Date.parse);
  const start = Math.min(Date.parse(detail.enrolled_at), ...times);
  const end = Math.max(...times, ...ends, now) + DAY;
  const span = end - start;
  const x = (t) => `${(100 * (t - start)) / span}%`;

  // History (tasks ended) first; then the engine's projection, where its open steps are
  // current and everything else is forecast.
  const open = new Set(p.current.map((c) => `${c.pathway}|${c.step}|${Date.parse(c.ready)}`));
  const lanes = [];
  rows.forEach((row, index) => {
    const place = (column) => ({ gridRow: String(index + 1), gridColumn: String(column) });
    const ready = Date.parse(row.ready);
    const state = index < history ? row.ended.replace("completed", "done") : barState(row, now, open);
    const finish = state === "late" ? now : Date.parse(index < history || state === "planned" ? row.done || row.due : row.due);
    const bar = h("div", {
      class: `gantt-bar ${state}${row.kind === "wait" ? " wait" : ""}`,
      style: { left: x(ready), width: `${Math.max(0.4, (100 * (finish - ready)) / span)}%` },
      title: `${row.title}: ${when(row.ready)} → ${when(finish)} (${state})`,
    });
    lanes.push(
      h("div", { class: "gantt-label", style: place(1), title: row.title, "data-state": state }, row.kind === "wait" ? `Wait: ${humanize(row.step).toLowerCase()}` : row.title, " ", h("small", {}, row.kind === "wait" ? "" : humanize(row.role))),
      h("div", { class: "gantt-lane", style: place(2) }, bar),
    );
  });

  const axis = h("div", { class: "gantt-axis" });
  const step = pickStep(span);
  for (let t = startOfDay(start) + step; t < end; t += step) {
    axis.append(h("span", { style: { left: x(t) } }, new Date(t).toLocaleDateString([], { day: "numeric", month: "short" })));
  }
  const markers = h("div", { style: { position: "absolute", inset: "0" } });
  const marker = (t, kind, label) => h("div", { class: `gantt-marker ${kind}`, style: { left: x(t) }, title: label });
  markers.append(marker(now, "today", "Now"));
  if (p.projected_end) markers.append(marker(Date.parse(p.projected_end), "projected", `Projected end ${when(p.projected_end)}`));
  if (p.planned_end) markers.append(marker(Date.parse(p.planned_end), "planned", `Planned end ${when(p.planned_end)}`));

  return h(
    "div",
    { class: "gantt", "data-testid": "gantt" },
    h("div", { class: "gantt-grid" }, h("div", {}), h("div", { style: { position: "relative" } }, axis)),
    h("div", { class: "gantt-grid", style: { position: "relative" } }, ...lanes, h("div", { style: { gridColumn: "2", gridRow: `1 / ${rows.length + 1}`, position: "relative" } }, markers)),
    h(
      "div",
      { class: "legend" },
      legend("#4fa27a", "Done"),
      legend("#0f5c78", "Current"),
      legend("#b42318", "Late"),
      legend("#c9d6e2", "Planned"),
      h("span", {}, "│ red: now · dashed: projected end · dotted: planned end"),
    ),
  );
}

function barState(row, now, open) {
  if (open.has(`${row.pathway}|${row.step}|${Date.parse(row.ready)}`)) {
    return Date.parse(row.due) < now ? "late" : "current";
  }
  return "planned";
}

function legend(color, label) {
  return h("span", {}, h("i", { style: { background: color } }), label);
}

function startOfDay(t) {
  const d = new Date(t);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

function pickStep(span) {
  const days = span / DAY;
  if (days <= 14) return DAY;
  if (days <= 70) return 7 * DAY;
  if (days <= 200) return 14 * DAY;
  return 30 * DAY;
}
