// Calls of the shim's console API: the bearer token (memory only), JSON reads, the live stream.

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

export interface UnitSummary {
  namespace: string;
  name: string;
  deploymentId: string;
  displayName: string | null;
  source: string | null;
  tenantId: string | null;
  status: string | null;
  desiredState: string;
  ready: Condition | null;
  stalled: Condition | null;
  engine: string | null;
  engineSynced: Condition | null;
  deploymentTime: string | null;
  created: string;
  deleting: boolean;
}

export interface UnitList {
  units: UnitSummary[];
  namespaces: string[];
}

export interface UnitChanges {
  upserts: UnitSummary[];
  deletes: { namespace: string; name: string }[];
}

export interface Resource {
  id: string;
  name: string;
  sha256: string;
  size: number;
}

export interface Definition {
  kind: string;
  id: string;
  key: string;
  name?: string | null;
  version: number;
  resource: string;
}

export interface Problem {
  resource?: string | null;
  message: string;
  line?: number | null;
  column?: number | null;
  mainElementId?: string | null;
  elementIds: string[];
}

export interface EventView {
  type: string;
  reason: string;
  message: string;
  count: number;
  lastSeen: string;
}

export interface UnitDetail {
  summary: UnitSummary;
  resources: Resource[];
  definitions: Definition[];
  conditions: Condition[];
  failure: string | null;
  problems: Problem[];
  engineDeploymentId: string | null;
  events: EventView[];
  eventsError: string | null;
  sources: { name: string; content: string }[];
}

export interface Version {
  key: string;
  version: number;
  definitionId: string;
  kind: string;
  tenantId: string | null;
  namespace: string;
  unit: string;
  deploymentId: string;
  resourceId: string | null;
  resourceName: string;
  deploymentTime: string | null;
}

export interface Session {
  authMode: string;
  user: string | null;
  authenticated: boolean;
}

/** The shim refused the credentials (401): the page asks for a token again. */
export class Unauthenticated extends Error {}

/** Any other refusal or failure, with the shim's message. */
export class Failed extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// Kept only in this tab's memory: never in storage, never in a URL.
let token: string | null = null;

export function setToken(value: string | null): void {
  token = value && value.trim() ? value.trim() : null;
}

function headers(): HeadersInit {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function check(response: Response): Promise<Response> {
  if (response.status === 401) throw new Unauthenticated("the token was not accepted");
  if (!response.ok) {
    let message = response.statusText;
    try {
      message = ((await response.json()) as { message?: string }).message ?? message;
    } catch {
      // Not JSON: keep the status text.
    }
    throw new Failed(response.status, message);
  }
  return response;
}

async function json<T>(path: string): Promise<T> {
  const response = await check(await fetch(`api/${path}`, { headers: headers() }));
  return (await response.json()) as T;
}

const part = encodeURIComponent;

export const api = {
  session: () => json<Session>("session"),
  units: () => json<UnitList>("units"),
  unit: (namespace: string, name: string) => json<UnitDetail>(`units/${part(namespace)}/${part(name)}`),
  versions: (namespace: string, key: string) =>
    json<{ versions: Version[] }>(`versions/${part(namespace)}/${part(key)}`),
  async content(namespace: string, name: string, resourceId: string): Promise<string> {
    const path = `api/units/${part(namespace)}/${part(name)}/resources/${part(resourceId)}`;
    const response = await check(await fetch(path, { headers: headers() }));
    return response.text();
  },
};

export interface StreamHandlers {
  list(list: UnitList): void;
  change(changes: UnitChanges): void;
  state(live: boolean): void;
  unauthenticated(): void;
}

/**
 * Follows the shim's server-sent events with fetch (EventSource cannot send a bearer token),
 * opening a new stream whenever one ends, until `signal` aborts.
 */
export async function follow(handlers: StreamHandlers, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      const response = await check(await fetch("api/stream", { headers: headers(), signal }));
      handlers.state(true);
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          dispatch(buffer.slice(0, end), handlers);
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof Unauthenticated) {
        handlers.unauthenticated();
        return;
      }
    }
    handlers.state(false);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function dispatch(block: string, handlers: StreamHandlers): void {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data.push(line.slice(6));
  }
  if (!data.length) return;
  const body: unknown = JSON.parse(data.join("\n"));
  if (event === "units") handlers.list(body as UnitList);
  else if (event === "change") handlers.change(body as UnitChanges);
}
