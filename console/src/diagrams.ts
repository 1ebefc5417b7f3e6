// Diagrams with the bpmn.io viewers: BPMN (bpmn-js) and DMN (dmn-js), with marked elements.
import NavigatedViewer from "bpmn-js/lib/NavigatedViewer";
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "bpmn-js/dist/assets/bpmn-font/css/bpmn.css";
import { h } from "./dom";

export type BpmnViewer = InstanceType<typeof NavigatedViewer>;

interface Canvas {
  addMarker(element: string, marker: string): void;
  zoom(level: string): void;
}

interface Registry {
  get(id: string): unknown;
}

export function isBpmn(name: string): boolean {
  return /\.bpmn2?$/i.test(name);
}

export function isDmn(name: string): boolean {
  return /\.dmn(11)?$/i.test(name);
}

/** A labelled container the diagram fills (bpmn-js makes its SVG focusable: Ctrl + arrow keys
 * pan it), with a hint that says so. */
export function diagramBox(label: string, hint = true): HTMLElement {
  const box = h("div", { class: "diagram", role: "group", "aria-label": label });
  const says = hint && h("span", { class: "hint" }, "Focus the drawing (Tab), then Ctrl + arrow keys move it.");
  return h("div", { class: "drawing" }, box, says);
}

/** The element a viewer draws into: the box inside a `diagramBox`. */
function canvasOf(drawing: HTMLElement): HTMLElement {
  return drawing.querySelector(".diagram") as HTMLElement;
}

/** Draws a BPMN document; the error (as text) when it has no diagram or does not parse. */
export async function drawBpmn(
  container: HTMLElement,
  xml: string,
): Promise<{ viewer: BpmnViewer; error: string | null }> {
  const viewer = new NavigatedViewer({ container: canvasOf(container) });
  try {
    await viewer.importXML(xml);
    (viewer.get("canvas") as Canvas).zoom("fit-viewport");
    return { viewer, error: null };
  } catch (error) {
    return { viewer, error: error instanceof Error ? error.message : String(error) };
  }
}

/** Marks elements of a drawn diagram; returns the ids the diagram has. */
export function mark(viewer: BpmnViewer, ids: Iterable<string>, marker: string): string[] {
  const canvas = viewer.get("canvas") as Canvas;
  const registry = viewer.get("elementRegistry") as Registry;
  const marked: string[] = [];
  for (const id of ids) {
    if (registry.get(id)) {
      canvas.addMarker(id, marker);
      marked.push(id);
    }
  }
  return marked;
}

/** Draws a DMN document (its DRD or first decision); dmn-js loads only when a DMN is shown. */
export async function drawDmn(container: HTMLElement, xml: string): Promise<string | null> {
  const [{ default: DmnViewer }] = await Promise.all([
    import("dmn-js/lib/Viewer"),
    import("dmn-js/dist/assets/dmn-js-shared.css"),
    import("dmn-js/dist/assets/dmn-js-drd.css"),
    import("dmn-js/dist/assets/dmn-js-decision-table.css"),
    import("dmn-js/dist/assets/dmn-js-literal-expression.css"),
    import("dmn-js/dist/assets/dmn-font/css/dmn.css"),
  ]);
  const viewer = new DmnViewer({ container: canvasOf(container) });
  try {
    await viewer.importXML(xml);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
