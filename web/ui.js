// DOM helpers. Every piece of user text goes in through textContent (h's string children),
// never through innerHTML.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const SVG = "http://www.w3.org/2000/svg";
export function s(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") el.setAttribute("class", value);
    else el.setAttribute(key, String(value));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function plural(n, one, many = `${one}s`) {
  return `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
export function when(iso, short = false) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return short ? dayFormat.format(d) : dateFormat.format(d);
}

/** Splits `text` on the words of `q` and wraps each match in <mark>. */
export function highlight(text, q) {
  const words = (q.match(/[\p{L}\p{N}]+/gu) || []).filter((w) => w.length > 1 || /\p{N}/u.test(w));
  if (!words.length) return [text];
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const re = new RegExp(`(${escaped.join("|")})[\\p{L}\\p{N}]*`, "giu");
  const parts = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    parts.push(h("mark", {}, m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

/**
 * A modal form in a <dialog>. fields: [{name, label, value, multiline, required, type, options}]
 * Resolves with {name: value} or null when cancelled.
 */
export function ask({ title, description, fields = [], submit = "Save", danger = false }) {
  return new Promise((resolve) => {
    const inputs = {};
    const body = fields.map((field, i) => {
      const id = `dialog-field-${i}`;
      let input;
      if (field.options) {
        input = h(
          "select",
          { id, name: field.name },
          field.options.map((o) => h("option", { value: o.value, selected: o.value === field.value }, o.label)),
        );
      } else if (field.multiline) {
        input = h("textarea", { id, name: field.name, rows: field.rows || 4, required: field.required });
        input.value = field.value || "";
      } else {
        input = h("input", {
          id,
          name: field.name,
          type: field.type || "text",
          required: field.required,
          autocomplete: "off",
        });
        input.value = field.value || "";
      }
      inputs[field.name] = input;
      return h("div", { class: "field" }, h("label", { for: id }, field.label), input, field.hint && h("p", { class: "hint" }, field.hint));
    });
    const cancel = h("button", { type: "button", class: "btn" }, "Cancel");
    const ok = h("button", { type: "submit", class: danger ? "btn btn-danger" : "btn btn-primary" }, submit);
    const form = h(
      "form",
      { class: "dialog-form" },
      h("h2", { class: "dialog-title", id: "dialog-title" }, title),
      description && h("p", { class: "dialog-text" }, description),
      body,
      h("div", { class: "dialog-actions" }, cancel, ok),
    );
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "dialog-title" }, form);
    let result = null;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      result = {};
      for (const [name, input] of Object.entries(inputs)) result[name] = input.value;
      dialog.close();
    });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
    const first = Object.values(inputs)[0];
    if (first) {
      first.focus();
      if (first.select && !fields[0].multiline) first.select();
    } else ok.focus();
  });
}

export function confirmAction(title, description, submit = "Delete") {
  return ask({ title, description, submit, danger: true }).then((r) => r !== null);
}
