// A unit's page: summary, conditions, refusal, definitions, each resource drawn or coloured, Events.
import { api, type Problem, type UnitDetail } from "./api";
import { code } from "./code";
import { diagramBox, drawBpmn, drawDmn, isBpmn, isDmn, mark } from "./diagrams";
import { age, badge, h, message, show } from "./dom";

function table(caption: string, columns: string[], rows: (Node | string)[][]): HTMLElement {
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, ...columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, ...rows.map((cells) => h("tr", {}, ...cells.map((c) => h("td", {}, c))))),
    ),
  );
}

function problemsOf(detail: UnitDetail, resource: { name: string }): Problem[] {
  return detail.problems.filter((p) => !p.resource || p.resource === resource.name);
}

/** Appends the resource's section to `parent` (the viewers need it in the page to size). */
async function resourceSection(
  detail: UnitDetail,
  resource: { id: string; name: string },
  load: () => Promise<string>,
  parent: HTMLElement,
): Promise<HTMLElement> {
  const id = `resource-${resource.id}`;
  const section = h("section", { class: "resource", "aria-labelledby": id }, h("h3", { id }, resource.name));
  parent.append(section);
  let text: string;
  try {
    text = await load();
  } catch (error) {
    section.append(message(`Could not read ${resource.name}: ${(error as Error).message}`));
    return section;
  }
  const problems = problemsOf(detail, resource);
  const lines = problems.map((p) => p.line).filter((l): l is number => typeof l === "number");
  if (problems.length) {
    section.append(
      h(
        "ul",
        { class: "problems", "aria-label": `Problems in ${resource.name}` },
        ...problems.map((p) =>
          h(
            "li",
            {},
            p.line ? `line ${p.line}${p.column ? `, column ${p.column}` : ""}: ` : "",
            p.message,
            p.mainElementId ? h("span", { class: "element" }, ` (element ${p.mainElementId})`) : null,
          ),
        ),
      ),
    );
  }
  const source = h("details", {}, h("summary", {}, `XML of ${resource.name}`), code(resource.name, text, lines));
  if (isBpmn(resource.name)) {
    const box = diagramBox(`Diagram of ${resource.name}`);
    section.append(box);
    const { viewer, error } = await drawBpmn(box, text);
    if (error) {
      box.remove();
      section.append(message(`The diagram cannot be drawn: ${error}`, "warning"), code(resource.name, text, lines));
      return section;
    }
    const ids = problems.flatMap((p) => [p.mainElementId, ...p.elementIds]).filter((i): i is string => !!i);
    const marked = mark(viewer, new Set(ids), "problem");
    if (marked.length) section.insertBefore(h("p", { class: "legend" }, h("span", { class: "swatch problem" }), `Marked: ${marked.join(", ")}`), box);
    section.append(source);
  } else if (isDmn(resource.name)) {
    const box = diagramBox(`Decisions of ${resource.name}`, false);
    section.append(box);
    const error = await drawDmn(box, text);
    if (error) {
      box.remove();
      section.append(message(`The decisions cannot be drawn: ${error}`, "warning"), code(resource.name, text, lines));
      return section;
    }
    section.append(source);
  } else {
    section.append(code(resource.name, text, lines));
  }
  return section;
}

export async function unitPage(namespace: string, name: string): Promise<void> {
  const detail = await api.unit(namespace, name);
  const s = detail.summary;
  const facts: [string, string | Node][] = [
    ["Namespace", s.namespace],
    ["Deployment id", s.deploymentId],
    ["Name", s.displayName ?? ""],
    ["Source", s.source ?? ""],
    ["Tenant", s.tenantId ?? ""],
    ["Status", h("span", { class: `status s-${(s.status ?? "none").toLowerCase()}` }, s.status ?? "–")],
    ["Desired state", s.desiredState],
    ["Engine", s.engine ? `${s.engine}${detail.engineDeploymentId ? ` (deployment ${detail.engineDeploymentId})` : ""}` : "stored only"],
    ["Deployed", s.deploymentTime ?? ""],
    ["Age", age(s.created)],
  ];
  const definitions = table(
    "Definitions",
    ["Kind", "Key", "Version", "Id", "Resource"],
    detail.definitions.map((d) => [
      d.kind,
      h("a", { href: `#/versions/${encodeURIComponent(s.namespace)}/${encodeURIComponent(d.key)}` }, d.key),
      String(d.version),
      h("span", { class: "mono" }, d.id),
      d.resource,
    ]),
  );
  const conditions = table(
    "Conditions",
    ["Type", "Status", "Reason", "Message"],
    detail.conditions.map((c) => [c.type, badge(c.type, c.status), c.reason, c.message]),
  );
  const events = detail.eventsError
    ? message(detail.eventsError, "warning")
    : table(
        "Events",
        ["Type", "Reason", "Message", "Count", "Last seen"],
        detail.events.map((e) => [e.type, e.reason, e.message, String(e.count), e.lastSeen]),
      );
  const resources = h("section", { "aria-labelledby": "resources" }, h("h2", { id: "resources" }, "Resources"));
  show(
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Units"), ` / ${s.namespace}`),
    h("h1", {}, s.name),
    h("dl", { class: "facts" }, ...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    detail.failure ? h("div", { class: "failure", role: "alert" }, h("h2", {}, "Why it failed"), h("pre", {}, detail.failure)) : null,
    conditions,
    definitions,
    resources,
    h("section", { "aria-label": "Events" }, events),
  );
  for (const resource of detail.resources) {
    await resourceSection(detail, resource, () => api.content(namespace, name, resource.id), resources);
  }
  if (!detail.resources.length && detail.sources.length) {
    // A failed unit stored nothing: its sources show where the refusal points.
    resources.append(message("Nothing was stored (the deployment failed); these are the unit's sources.", "info"));
    detail.sources.forEach((source, index) =>
      void resourceSection(detail, { id: `source-${index}`, name: source.name }, async () => source.content, resources),
    );
  } else if (!detail.resources.length) {
    resources.append(message("No stored resources yet.", "info"));
  }
}
