// Versions of a definition key, and the diff of two: elements marked in both diagrams, the XML diff.
import { diff as bpmnDiff, type Changes } from "bpmn-js-differ";
import { diffLines } from "diff";
import { api, type Version } from "./api";
import { diagramBox, drawBpmn, isBpmn, mark } from "./diagrams";
import { h, message, show } from "./dom";

const label = (v: Version) => `version ${v.version}${v.tenantId ? ` (tenant ${v.tenantId})` : ""} in ${v.unit}`;

function choice(name: string, versions: Version[], chosen: number, legend: string): HTMLElement {
  return h(
    "fieldset",
    { class: "choice" },
    h("legend", {}, legend),
    ...versions.map((v, i) =>
      h(
        "label",
        {},
        h("input", { type: "radio", name, value: String(i), checked: i === chosen }),
        ` ${label(v)}`,
      ),
    ),
  );
}

function xmlDiff(before: string, after: string): HTMLElement {
  const lines: HTMLElement[] = [];
  for (const part of diffLines(before, after)) {
    const tone = part.added ? "added" : part.removed ? "removed" : "same";
    const sign = part.added ? "+" : part.removed ? "-" : " ";
    const texts = part.value.replace(/\n$/, "").split("\n");
    // Long unchanged stretches are folded to their ends.
    const shown = tone === "same" && texts.length > 6 ? [...texts.slice(0, 2), "…", ...texts.slice(-2)] : texts;
    for (const text of shown) lines.push(h("span", { class: `line ${tone}` }, `${sign} ${text}`));
  }
  return h("pre", { class: "code xml-diff", tabindex: "0", "aria-label": "XML diff" }, h("code", {}, ...lines));
}

type ValueOf = (side: "older" | "newer", id: string, attribute: string) => unknown;

function shown(value: unknown): string {
  return value === undefined || value === null ? "–" : typeof value === "object" ? "…" : JSON.stringify(value);
}

/** The changes as a list; attribute values are read from each side's own model. */
function changeList(changes: Changes, valueOf: ValueOf): HTMLElement {
  const items: HTMLElement[] = [];
  const describe = (kind: string, id: string, type: string, name?: string) =>
    items.push(h("li", { class: `change ${kind}`, "data-element-id": id }, `${kind}: ${type.replace("bpmn:", "")} ${name ? `“${name}” ` : ""}(${id})`));
  for (const [id, e] of Object.entries(changes._added)) describe("added", id, e.$type, e.name);
  for (const [id, e] of Object.entries(changes._removed)) describe("removed", id, e.$type, e.name);
  for (const [id, c] of Object.entries(changes._changed)) {
    describe("changed", id, c.model.$type, c.model.name);
    const attrs = Object.keys(c.attrs).map((a) => `${a}: ${shown(valueOf("older", id, a))} → ${shown(valueOf("newer", id, a))}`);
    items[items.length - 1].append(h("div", { class: "why" }, attrs.join("; ")));
  }
  for (const [id, e] of Object.entries(changes._layoutChanged)) describe("moved", id, e.$type, e.name);
  if (!items.length) return message("The two versions have the same elements and layout.", "info");
  return h("ul", { class: "changes", "aria-label": "Changed elements" }, ...items);
}

async function compare(target: HTMLElement, older: Version, newer: Version): Promise<void> {
  target.replaceChildren(h("p", { role: "status" }, "Comparing…"));
  if (!older.resourceId || !newer.resourceId) {
    target.replaceChildren(message("A version's resource is not stored."));
    return;
  }
  const [before, after] = await Promise.all([
    api.content(older.namespace, older.unit, older.resourceId),
    api.content(newer.namespace, newer.unit, newer.resourceId),
  ]);
  const legend = h(
    "p",
    { class: "legend" },
    ...["added", "removed", "changed", "moved"].map((k) => h("span", { class: "key" }, h("span", { class: `swatch diff-${k}` }), k)),
  );
  const left = diagramBox(`Diagram of ${label(older)}`);
  const right = diagramBox(`Diagram of ${label(newer)}`);
  const changes = h("div", {});
  target.replaceChildren(
    h("h2", {}, `${label(older)} → ${label(newer)}`),
    legend,
    h(
      "div",
      { class: "side-by-side" },
      h("figure", {}, h("figcaption", {}, label(older)), left),
      h("figure", {}, h("figcaption", {}, label(newer)), right),
    ),
    h("h3", {}, "Elements"),
    changes,
    h("h3", {}, "XML"),
    xmlDiff(before, after),
  );
  if (!isBpmn(newer.resourceName) || !isBpmn(older.resourceName)) {
    left.parentElement!.parentElement!.remove();
    changes.replaceWith(message("Only BPMN diagrams are compared element by element.", "info"));
    return;
  }
  const [a, b] = await Promise.all([drawBpmn(left, before), drawBpmn(right, after)]);
  if (a.error || b.error) {
    changes.replaceWith(message(`A diagram cannot be drawn: ${a.error ?? b.error}`, "warning"));
    return;
  }
  const found = bpmnDiff(a.viewer.getDefinitions(), b.viewer.getDefinitions());
  mark(a.viewer, Object.keys(found._removed), "diff-removed");
  mark(b.viewer, Object.keys(found._added), "diff-added");
  for (const viewer of [a.viewer, b.viewer]) {
    mark(viewer, Object.keys(found._changed), "diff-changed");
    mark(viewer, Object.keys(found._layoutChanged), "diff-moved");
  }
  const valueOf: ValueOf = (side, id, attribute) => {
    const registry = (side === "older" ? a : b).viewer.get("elementRegistry") as {
      get(id: string): { businessObject?: Record<string, unknown> } | undefined;
    };
    return registry.get(id)?.businessObject?.[attribute];
  };
  changes.replaceWith(changeList(found, valueOf));
}

export async function versionsPage(namespace: string, key: string): Promise<void> {
  const { versions } = await api.versions(namespace, key);
  const rows = versions.map((v) =>
    h(
      "tr",
      {},
      h("td", {}, String(v.version)),
      h("td", {}, v.tenantId ?? ""),
      h("td", {}, h("a", { href: `#/unit/${encodeURIComponent(v.namespace)}/${encodeURIComponent(v.unit)}` }, v.unit)),
      h("td", { class: "mono" }, v.definitionId),
      h("td", {}, v.resourceName),
      h("td", {}, v.deploymentTime ?? ""),
    ),
  );
  const result = h("section", { class: "diff", "aria-live": "polite" });
  const form = h("form", { class: "compare" }) as HTMLFormElement;
  show(
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Units"), ` / ${namespace}`),
    h("h1", {}, `Versions of ${key}`),
    h(
      "div",
      { class: "scroll" },
      h(
        "table",
        {},
        h("caption", {}, `Every version of ${key} in namespace ${namespace}`),
        h("thead", {}, h("tr", {}, ...["Version", "Tenant", "Unit", "Definition id", "Resource", "Deployed"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, ...rows),
      ),
    ),
    versions.length < 2 ? message("There is only one version: nothing to compare.", "info") : form,
    result,
  );
  if (versions.length < 2) return;
  // Newest first: compare the previous version with the latest by default.
  form.append(
    choice("older", versions, 1, "Compare"),
    choice("newer", versions, 0, "with"),
    h("button", { type: "submit" }, "Compare"),
  );
  const run = () => {
    const data = new FormData(form);
    const older = versions[Number(data.get("older"))];
    const newer = versions[Number(data.get("newer"))];
    compare(result, older, newer).catch((error: Error) => result.replaceChildren(message(error.message)));
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  run();
}
