// The bpmn.io packages without type declarations of their own: only what the console calls.
declare module "dmn-js/lib/Viewer" {
  export default class DmnViewer {
    constructor(options: { container: HTMLElement });
    importXML(xml: string): Promise<{ warnings: unknown[] }>;
    getViews(): { type: string; element: { id: string; name?: string } }[];
    open(view: { type: string; element: { id: string } }): Promise<unknown>;
    destroy(): void;
  }
}

declare module "bpmn-js-differ" {
  export interface Changes {
    _added: Record<string, { $type: string; name?: string }>;
    _removed: Record<string, { $type: string; name?: string }>;
    _changed: Record<string, { model: { $type: string; name?: string }; attrs: Record<string, { oldValue: unknown; newValue: unknown }> }>;
    _layoutChanged: Record<string, { $type: string; name?: string }>;
  }
  export function diff(a: unknown, b: unknown): Changes;
}

declare module "*.css";
