// Replies as Markdown: `marked` renders, `DOMPurify` sanitises, and the result arrives as a DOM
// fragment (no HTML string is ever assigned to the page). Both libraries are pinned by
// agent/ui-vendor's lockfile and copied into ./vendor by scripts/ui_vendor.py (docs/ui.md).
//
// Safety, in depth: raw HTML in a reply is shown as text, images become plain links (no request
// leaves the page for them, and the Content-Security-Policy would refuse them anyway), and DOMPurify
// keeps only the tags and attributes Markdown produces, with http(s)/mailto links only.

import { Marked } from "./vendor/marked.esm.js";
import DOMPurify from "./vendor/purify.es.mjs";

const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const markdown = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    html: ({ text }) => escapeHtml(text),
    image: ({ href, text }) => `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`,
  },
});

const ALLOWED_TAGS = [
  "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li",
  "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
];
const ALLOWED_ATTR = ["href", "title", "align", "start", "class"];
const SAFE_URL = /^(?:https?:|mailto:|#)/i;

DOMPurify.addHook("uponSanitizeAttribute", (node, data) => {
  // The only class kept is the code language marked writes (`language-python`).
  if (data.attrName === "class") data.keepAttr = node.nodeName === "CODE" && /^language-[\w+#.-]{1,30}$/.test(data.attrValue);
  if (data.attrName === "href") data.keepAttr = SAFE_URL.test(data.attrValue.trim());
});
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

/** The sanitised DOM of `text` as Markdown, code blocks given copy buttons, tables a scroller. */
export function renderMarkdown(text) {
  const html = markdown.parse(text);
  const fragment = DOMPurify.sanitize(html, { ALLOWED_TAGS, ALLOWED_ATTR, RETURN_DOM_FRAGMENT: true });
  decorate(fragment);
  return fragment;
}

function decorate(root) {
  for (const pre of root.querySelectorAll("pre")) {
    const code = pre.querySelector("code");
    const language = code?.className.replace(/^language-/, "") || "";
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "copy";
    copy.textContent = "Copy";
    copy.setAttribute("aria-label", `Copy ${language || "code"}`);
    const label = document.createElement("span");
    label.className = "lang";
    label.textContent = language;
    const bar = document.createElement("div");
    bar.className = "codebar";
    bar.append(label, copy);
    const box = document.createElement("div");
    box.className = "codeblock";
    pre.replaceWith(box);
    box.append(bar, pre);
  }
  for (const table of root.querySelectorAll("table")) {
    const scroller = document.createElement("div");
    scroller.className = "table-scroll";
    table.replaceWith(scroller);
    scroller.append(table);
  }
}

/** Copy the code of the block whose Copy button was clicked (one listener for the whole chat). */
export async function copyCode(button) {
  const code = button.closest(".codeblock")?.querySelector("pre")?.textContent ?? "";
  try {
    await navigator.clipboard.writeText(code);
    button.textContent = "Copied";
  } catch (error) {
    button.textContent = "Copy failed";
    throw new Error(`Could not copy: ${error.message || error}. Select the code and copy it by hand.`);
  } finally {
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  }
}

// While a reply streams, Markdown is rendered at most once per animation frame, and only its
// tail: blocks the lexer has closed (every top-level block before the last one) are rendered once
// and kept; only the still-open last block is rendered again. Re-rendering the whole reply on each
// delta made a 30,000-character reply fall seconds behind its stream (bench/ui_stream).
// The final reply is then rendered whole, once, so what stays on screen is exactly the stored text.
export class MarkdownStream {
  constructor(container, onRender = () => {}) {
    this.container = container;
    this.onRender = onRender;
    this.text = "";
    this.settled = 0; // characters of `text` rendered into `done` for good
    this.done = document.createElement("div");
    this.live = document.createElement("div");
    this.done.className = this.live.className = "md-part";
    this.frame = 0;
    container.replaceChildren(this.done, this.live);
  }

  append(delta) {
    this.text += delta;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    let tail = this.text.slice(this.settled);
    const tokens = markdown.lexer(tail);
    let open = tokens.length - 1;
    while (open > 0 && tokens[open].type === "space") open -= 1;
    const closed = tokens.slice(0, Math.max(open, 0)).map((token) => token.raw).join("");
    // The lexer normalises line ends; when its pieces do not spell the text, keep it all live.
    if (closed && tail.startsWith(closed)) {
      this.done.append(renderMarkdown(closed));
      this.settled += closed.length;
      tail = tail.slice(closed.length);
    }
    this.live.replaceChildren(renderMarkdown(tail));
    this.onRender();
  }

  finish(text) {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.text = text;
    this.container.replaceChildren(renderMarkdown(text));
    this.onRender();
  }

  stop() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.flush();
  }
}
