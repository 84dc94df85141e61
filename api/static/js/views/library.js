// The pathway library: each published pathway, and its diagram (Mermaid, served locally).

import { banner, h, humanize } from "../ui.js";
import { get } from "../http.js";

export function libraryView() {
  const cards = h("div", { class: "grid cards", "data-testid": "library" });
  get("/pathways").then((pathways) => {
    cards.replaceChildren(
      ...pathways.map((p) =>
        h(
          "a",
          { class: "card pathway-card", href: `#/pathways/${p.pathway}`, "data-pathway": p.pathway },
          h("h2", {}, p.title),
          h("div", {}, h("span", { class: "tag" }, humanize(p.modality)), h("span", { class: "muted small" }, `${p.pathway} · v${p.version}`)),
          h("p", { class: "muted small" }, p.versions.length > 1 ? `${p.versions.length} versions published` : "1 version published"),
        ),
      ),
    );
  }).catch((e) => banner(e.message));
  const node = h("section", {}, h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "Pathways"), h("p", { class: "muted" }, "The published pathway definitions."))), cards);
  return { node };
}

export function pathwayView(id) {
  const about = h("div", { class: "card" }, h("p", { class: "muted" }, "Loading…"));
  const diagram = h("div", { class: "diagram", "data-testid": "diagram" }, h("p", { class: "muted" }, "Drawing the diagram…"));
  Promise.all([get(`/pathways/${id}`), get(`/pathways/${id}/diagram`)]).then(async ([detail, text]) => {
    about.replaceChildren(h("div", {},
      h("h1", {}, detail.title),
      h("div", { class: "row" }, h("span", { class: "tag" }, humanize(detail.modality)), h("span", { class: "muted" }, `${detail.pathway} · version ${detail.version} · published ${new Date(detail.published_at).toLocaleDateString()}`)),
      detail.description ? h("p", {}, detail.description) : null,
      h("h3", {}, "Roles"),
      h("div", {}, detail.roles.map((r) => h("span", { class: "tag" }, humanize(r)))),
      Object.keys(detail.parameters).length ? h("h3", { style: { marginTop: "1rem" } }, "Parameters") : null,
      h("ul", { class: "small" }, Object.entries(detail.parameters).map(([name, f]) => h("li", {}, h("b", {}, name), ` (${f.type}${f.unit ? `, ${f.unit}` : ""})${f.required ? "" : ` default ${JSON.stringify(f.default)}`}${f.description ? ` — ${f.description}` : ""}`))),
    ));
    diagram.replaceChildren(await render(text));
  }).catch((e) => banner(e.message));
  const node = h("section", { class: "stack" }, h("a", { href: "#/pathways" }, "← Pathways"), about, h("div", { class: "card" }, h("h2", {}, "Diagram"), diagram));
  return { node };
}

let mermaidReady = null;

function loadMermaid() {
  // Mermaid is large, so it loads only when a diagram is first shown (from /static/vendor).
  if (!mermaidReady) {
    mermaidReady = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/static/vendor/mermaid-11.17.2.min.js";
      script.onload = () => {
        window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral", flowchart: { useMaxWidth: true } });
        resolve(window.mermaid);
      };
      script.onerror = () => reject(new Error("the diagram library did not load"));
      document.head.append(script);
    });
  }
  return mermaidReady;
}

let drawn = 0;

async function render(text) {
  try {
    const mermaid = await loadMermaid();
    drawn += 1;
    const { svg } = await mermaid.render(`pathway-diagram-${drawn}`, text);
    const holder = h("div", { "data-rendered": "true" });
    holder.innerHTML = svg; // Mermaid's own SVG, labels sanitised (securityLevel strict)
    return holder;
  } catch (error) {
    return h("div", {}, h("p", { class: "error" }, `The diagram could not be drawn: ${error.message}`), h("pre", { class: "mono" }, text));
  }
}
