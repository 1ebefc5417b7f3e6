// Building the page from data: elements with text content only (never HTML from the API).

type Child = Node | string | null | undefined | false;
type Attributes = Record<string, string | boolean | ((event: Event) => void) | undefined>;

export function h(tag: string, attributes: Attributes = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

/** "3m", "2h", "5d": how long ago an RFC 3339 time was, as kubectl prints ages. */
export function age(since: string | null): string {
  if (!since) return "";
  const seconds = Math.max(0, (Date.now() - Date.parse(since)) / 1000);
  if (seconds < 120) return `${Math.floor(seconds)}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

/** A condition as a coloured badge with its message. */
export function badge(label: string, status: string | null, title = ""): HTMLElement {
  // Stalled is the one condition whose True is bad news.
  const good = label === "Stalled" ? "False" : "True";
  const tone = status === good ? "ok" : status === null || status === "Unknown" ? "unknown" : "bad";
  return h("span", { class: `badge ${tone}`, title: title || undefined }, `${label}: ${status ?? "–"}`);
}

const announcer = () => document.getElementById("announce")!;

/** Says something to screen readers without moving the focus. */
export function announce(text: string): void {
  announcer().textContent = text;
}

/** Replaces the main region's content and moves the focus to its heading. */
export function show(...children: Child[]): HTMLElement {
  const main = document.getElementById("main")!;
  main.replaceChildren(...children.filter((c): c is Node | string => !!c));
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
  return main;
}

export function message(text: string, tone = "error"): HTMLElement {
  return h("p", { class: `message ${tone}`, role: tone === "error" ? "alert" : "status" }, text);
}
