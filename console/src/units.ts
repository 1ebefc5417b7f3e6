// The units page: every unit the caller may list, filtered, kept live by the shim's stream.
import { follow, type StreamHandlers, type UnitList, type UnitSummary } from "./api";
import { age, announce, badge, h, show } from "./dom";

const key = (u: { namespace: string; name: string }) => `${u.namespace}/${u.name}`;

export function unitsPage(signal: AbortSignal, unauthenticated: () => void): void {
  const units = new Map<string, UnitSummary>();
  let namespaces: string[] = [];

  const text = h("input", { id: "filter-text", type: "search", placeholder: "name, id, source…" }) as HTMLInputElement;
  const status = h("select", { id: "filter-status" }, h("option", { value: "" }, "any")) as HTMLSelectElement;
  for (const value of ["DEPLOYED", "DEPLOYING", "DEPLOY_FAILED", "UNDEPLOYED", "UNDEPLOYING", "UNDEPLOY_FAILED", "ACCEPTED"]) {
    status.append(h("option", { value }, value));
  }
  const namespace = h("select", { id: "filter-namespace" }, h("option", { value: "" }, "all")) as HTMLSelectElement;
  const live = h("span", { class: "live", role: "status" }, "connecting…");
  const body = h("tbody");
  const count = h("p", { class: "count" });
  const table = h(
    "table",
    { class: "units" },
    h("caption", { class: "visually-hidden" }, "Deployment units"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ...["Unit", "Namespace", "Deployment id", "Status", "Conditions", "Source", "Tenant", "Engine", "Age"].map((c) =>
          h("th", { scope: "col" }, c),
        ),
      ),
    ),
    body,
  );

  function matches(u: UnitSummary): boolean {
    const needle = text.value.trim().toLowerCase();
    if (status.value && u.status !== status.value) return false;
    if (namespace.value && u.namespace !== namespace.value) return false;
    if (!needle) return true;
    return [u.name, u.namespace, u.deploymentId, u.displayName, u.source, u.tenantId, u.engine]
      .some((v) => (v ?? "").toLowerCase().includes(needle));
  }

  function row(u: UnitSummary): HTMLElement {
    const href = `#/unit/${encodeURIComponent(u.namespace)}/${encodeURIComponent(u.name)}`;
    const conditions = h(
      "td",
      { "data-label": "Conditions" },
      badge("Ready", u.ready?.status ?? null, u.ready?.message),
      u.stalled ? badge("Stalled", u.stalled.status, u.stalled.message) : null,
      u.stalled?.message ? h("div", { class: "why" }, u.stalled.message) : null,
      !u.stalled && u.ready?.status === "False" && u.ready.message ? h("div", { class: "why" }, u.ready.message) : null,
    );
    const engine = u.engine
      ? h("td", { "data-label": "Engine" }, u.engine, " ", badge("Synced", u.engineSynced?.status ?? null, u.engineSynced?.message))
      : h("td", { class: "muted", "data-label": "Engine" }, "stored only");
    return h(
      "tr",
      { "data-unit": key(u), class: u.deleting ? "deleting" : undefined },
      h("th", { scope: "row" }, h("a", { href }, u.name)),
      h("td", { "data-label": "Namespace" }, u.namespace),
      h("td", { class: "mono", "data-label": "Deployment id" }, u.deploymentId),
      h("td", { "data-label": "Status" }, h("span", { class: `status s-${(u.status ?? "none").toLowerCase()}` }, u.status ?? "–")),
      conditions,
      h("td", { "data-label": "Source" }, u.source ?? ""),
      h("td", { "data-label": "Tenant" }, u.tenantId ?? ""),
      engine,
      h("td", { title: u.created, "data-label": "Age" }, age(u.created)),
    );
  }

  function render(): void {
    const rows = [...units.values()].filter(matches).sort((a, b) => key(a).localeCompare(key(b)));
    body.replaceChildren(...rows.map(row));
    count.textContent = `${rows.length} of ${units.size} units`;
  }

  function setNamespaces(list: string[]): void {
    namespaces = list;
    const chosen = namespace.value;
    namespace.replaceChildren(h("option", { value: "" }, "all"), ...namespaces.map((n) => h("option", { value: n }, n)));
    namespace.value = namespaces.includes(chosen) ? chosen : "";
  }

  const handlers: StreamHandlers = {
    list(list: UnitList) {
      units.clear();
      for (const u of list.units) units.set(key(u), u);
      setNamespaces(list.namespaces);
      render();
    },
    change(changes) {
      for (const gone of changes.deletes) units.delete(key(gone));
      for (const u of changes.upserts) units.set(key(u), u);
      const known = new Set(namespaces);
      if (changes.upserts.some((u) => !known.has(u.namespace))) {
        setNamespaces([...new Set([...namespaces, ...changes.upserts.map((u) => u.namespace)])].sort());
      }
      render();
      announce(`${changes.upserts.length + changes.deletes.length} units changed`);
    },
    state(connected) {
      live.textContent = connected ? "live" : "reconnecting…";
      live.className = connected ? "live on" : "live";
    },
    unauthenticated,
  };

  for (const control of [text, status, namespace]) control.addEventListener("input", render);
  show(
    h("h1", {}, "Deployment units"),
    h(
      "form",
      { class: "filters", role: "search", onsubmit: (e: Event) => e.preventDefault() },
      h("label", { for: "filter-text" }, "Filter", text),
      h("label", { for: "filter-status" }, "Status", status),
      h("label", { for: "filter-namespace" }, "Namespace", namespace),
      live,
    ),
    count,
    h("div", { class: "scroll" }, table),
  );
  void follow(handlers, signal);
}
