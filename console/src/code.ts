// Resources as text: syntax colouring by file name, and a line to mark (a parse error's).
import hljs from "highlight.js/lib/core";
import java from "highlight.js/lib/languages/java";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import properties from "highlight.js/lib/languages/properties";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";
import "highlight.js/styles/github.css";
import { h } from "./dom";

hljs.registerLanguage("xml", xml);
hljs.registerLanguage("json", json);
hljs.registerLanguage("yaml", yaml);
hljs.registerLanguage("java", java);
hljs.registerLanguage("javascript", javascript);
hljs.registerLanguage("properties", properties);

const LANGUAGES: Record<string, string> = {
  bpmn: "xml", bpmn2: "xml", dmn: "xml", dmn11: "xml", cmmn: "xml", cmmn11: "xml", xml: "xml",
  drl: "java", java: "java", groovy: "java", json: "json", yaml: "yaml", yml: "yaml",
  js: "javascript", form: "json", properties: "properties",
};

export function languageOf(name: string): string | null {
  const extension = name.toLowerCase().split(".").pop() ?? "";
  return LANGUAGES[extension] ?? null;
}

/** The text with coloured syntax, one line per element, `mark` lines highlighted. */
export function code(name: string, text: string, mark: number[] = []): HTMLElement {
  const language = languageOf(name);
  // highlight.js escapes the text; its output is the only HTML the console inserts.
  const html = language ? hljs.highlight(text, { language }).value : escapeHtml(text);
  const block = h("code", { class: `hljs${language ? ` language-${language}` : ""}` });
  const lines = splitHighlighted(html);
  lines.forEach((line, index) => {
    const span = document.createElement("span");
    span.className = mark.includes(index + 1) ? "line marked" : "line";
    span.dataset.line = String(index + 1);
    span.innerHTML = line || " ";
    block.append(span);
  });
  return h("pre", { class: "code", tabindex: "0", "aria-label": `Content of ${name}` }, block);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Splits highlighted HTML at newlines, closing and reopening spans that cross a line. */
function splitHighlighted(html: string): string[] {
  const lines: string[] = [];
  const open: string[] = [];
  let current = "";
  const tokens = html.split(/(<span[^>]*>|<\/span>|\n)/);
  for (const token of tokens) {
    if (token === "\n") {
      lines.push(current + "</span>".repeat(open.length));
      current = open.join("");
    } else if (token.startsWith("<span")) {
      open.push(token);
      current += token;
    } else if (token === "</span>") {
      open.pop();
      current += token;
    } else {
      current += token;
    }
  }
  lines.push(current);
  return lines;
}
