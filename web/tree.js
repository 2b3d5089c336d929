// The conversation tree: a model over get-tree's members (who stores which message, where the
// alternatives are) and its drawing — one row per member in get-tree's depth-first order, the
// member's own messages as a bar on a shared message-index axis, each branch dropping from its
// parent's bar at the index it was cut at, the active path highlighted.

import { h, s, clear, plural } from "./ui.js";

export class TreeModel {
  constructor(tree) {
    this.rootId = tree.root_chat_id;
    this.activeId = tree.active_branch_id;
    this.activePath = tree.active_path || [];
    this.members = tree.members;
    this.byId = new Map(tree.members.map((m) => [m.chat_id, m]));
    this.children = new Map(tree.members.map((m) => [m.chat_id, []]));
    this.depth = new Map();
    this.order = new Map();
    tree.members.forEach((m, i) => {
      this.order.set(m.chat_id, i);
      const siblings = m.parent_chat_id && this.children.get(m.parent_chat_id);
      if (siblings) siblings.push(m.chat_id);
    });
    for (const m of tree.members) {
      const parent = m.parent_chat_id && this.byId.get(m.parent_chat_id);
      this.depth.set(m.chat_id, parent ? this.depth.get(parent.chat_id) + 1 : 0);
    }
    this.maxCount = Math.max(1, ...tree.members.map((m) => m.message_count));
    // Indexes at which some member's own history starts: the only places alternatives exist.
    this.starts = new Set();
    for (const m of tree.members) if (m.parent_chat_id && m.own_message_count > 0) this.starts.add(this.start(m.chat_id));
    this.ownerMemo = new Map();
  }

  get(id) {
    return this.byId.get(id);
  }

  /** The first index of a member's own messages. */
  start(id) {
    const m = this.byId.get(id);
    if (!m || !m.parent_chat_id) return 0;
    return Math.max(0, (m.created_from_message_index ?? -1) + 1);
  }

  /** The member whose own messages hold message `i` of member `id`'s visible history. */
  owner(id, i) {
    const key = `${id}:${i}`;
    if (this.ownerMemo.has(key)) return this.ownerMemo.get(key);
    let current = this.byId.get(id);
    while (current && current.parent_chat_id && i < this.start(current.chat_id)) {
      current = this.byId.get(current.parent_chat_id);
    }
    const result = current ? current.chat_id : id;
    this.ownerMemo.set(key, result);
    return result;
  }

  /** The path from the root down to `id`. */
  path(id) {
    const out = [];
    let current = this.byId.get(id);
    while (current) {
      out.unshift(current.chat_id);
      current = current.parent_chat_id ? this.byId.get(current.parent_chat_id) : null;
    }
    return out;
  }

  /**
   * The versions of message `i` as seen from member `viewId`: members that show the same
   * messages before `i` and a different message at `i`, one per chat storing such a message,
   * oldest first. Returns {owners, current} or null when there is only one version.
   */
  alternatives(viewId, i) {
    if (!this.starts.has(i) || !this.byId.has(viewId)) return null;
    const prefix = i > 0 ? this.owner(viewId, i - 1) : null;
    const owners = new Set();
    for (const m of this.members) {
      if (m.message_count <= i) continue;
      if (i > 0 && this.owner(m.chat_id, i - 1) !== prefix) continue;
      owners.add(this.owner(m.chat_id, i));
    }
    if (owners.size < 2) return null;
    const list = [...owners].sort((a, b) => {
      const ma = this.byId.get(a);
      const mb = this.byId.get(b);
      return ma.created_at < mb.created_at ? -1 : ma.created_at > mb.created_at ? 1 : this.order.get(a) - this.order.get(b);
    });
    return { owners: list, current: list.indexOf(this.owner(viewId, i)) };
  }

  /** Which member to open to show the version of message `i` stored by `ownerId`. */
  representative(ownerId, i) {
    if (this.owner(this.activeId, i) === ownerId && this.get(this.activeId).message_count > i) return this.activeId;
    return ownerId;
  }
}

const ROW = 44;
const PAD = 10;

/**
 * Draws the tree into `container`. options: {selectedId, onOpen(id)}.
 * Returns {focus(id)}.
 */
export function renderTree(container, model, options) {
  clear(container);
  const rows = h("div", {
    class: "tree-rows",
    role: "tree",
    "aria-label": `Conversation tree, ${plural(model.members.length, "member")}`,
  });
  const lanes = s("svg", { class: "tree-lanes", "aria-hidden": "true", focusable: "false" });
  const grid = h("div", { class: "tree-grid" }, rows, lanes);
  container.append(grid);

  const onPath = new Set(model.activePath);
  const rowEls = [];
  model.members.forEach((m, index) => {
    const depth = model.depth.get(m.chat_id);
    const siblings = m.parent_chat_id ? model.children.get(m.parent_chat_id) : [m.chat_id];
    const cut = m.created_from_message_index;
    const origin = !m.parent_chat_id
      ? "main line"
      : cut < 0
        ? "from the start"
        : `after message ${cut + 1}`;
    const meta = `${plural(m.message_count, "message")} · ${origin}`;
    const flags = [];
    if (m.chat_id === model.activeId) flags.push("active");
    else if (onPath.has(m.chat_id)) flags.push("on the active path");
    const row = h(
      "div",
      {
        class: "tree-row",
        role: "treeitem",
        tabindex: -1,
        id: `node-${m.chat_id}`,
        "aria-level": depth + 1,
        "aria-setsize": siblings.length,
        "aria-posinset": siblings.indexOf(m.chat_id) + 1,
        "aria-selected": m.chat_id === options.selectedId ? "true" : "false",
        "aria-label": `${m.name}, ${meta}${flags.length ? `, ${flags.join(", ")}` : ""}`,
        title: `${m.name}\n${meta}; ${plural(m.own_message_count, "message")} of its own`,
        dataset: {
          id: m.chat_id,
          onPath: onPath.has(m.chat_id) ? "true" : "false",
          active: m.chat_id === model.activeId ? "true" : "false",
        },
      },
      h(
        "span",
        { class: "tree-label" },
        h(
          "span",
          { class: "tree-name-line" },
          h("span", { class: "tree-name" }, m.name),
          m.chat_id === model.activeId && h("span", { class: "badge badge-active", "aria-hidden": "true" }, "active"),
        ),
        h(
          "span",
          { class: "tree-meta" },
          h("span", { class: "tree-count" }, plural(m.message_count, "message")),
          m.parent_chat_id ? ` · ${cut < 0 ? "from start" : `at #${cut + 1}`}` : "",
        ),
      ),
    );
    row.style.height = `${ROW}px`;
    row.style.setProperty("--depth", String(Math.min(depth, 8)));
    if (onPath.has(m.chat_id)) row.classList.add("on-path");
    row.dataset.index = String(index);
    rows.append(row);
    rowEls.push(row);
  });

  let focused = rowEls.find((r) => r.dataset.id === options.selectedId) || rowEls[0];
  if (focused) focused.tabIndex = 0;

  function focusRow(row) {
    if (!row) return;
    if (focused) focused.tabIndex = -1;
    focused = row;
    row.tabIndex = 0;
    row.focus();
  }

  rows.addEventListener("click", (event) => {
    const row = event.target.closest(".tree-row");
    if (!row) return;
    focusRow(row);
    options.onOpen(row.dataset.id);
  });
  rows.addEventListener("keydown", (event) => {
    const row = event.target.closest(".tree-row");
    if (!row) return;
    const i = Number(row.dataset.index);
    const m = model.members[i];
    let next = null;
    switch (event.key) {
      case "ArrowDown":
        next = rowEls[i + 1];
        break;
      case "ArrowUp":
        next = rowEls[i - 1];
        break;
      case "Home":
        next = rowEls[0];
        break;
      case "End":
        next = rowEls[rowEls.length - 1];
        break;
      case "ArrowLeft":
        if (m.parent_chat_id) next = rowEls[model.order.get(m.parent_chat_id)];
        break;
      case "ArrowRight": {
        const kids = model.children.get(m.chat_id);
        if (kids && kids.length) next = rowEls[model.order.get(kids[0])];
        break;
      }
      case "Enter":
      case " ":
        event.preventDefault();
        options.onOpen(m.chat_id);
        return;
      default:
        return;
    }
    event.preventDefault();
    focusRow(next);
  });

  function drawLanes() {
    const labelWidth = rows.firstChild ? rows.firstChild.querySelector(".tree-label").offsetWidth : 0;
    const total = grid.clientWidth;
    const laneLeft = labelWidth + 8;
    const width = Math.max(60, total - laneLeft);
    const height = model.members.length * ROW;
    clear(lanes);
    lanes.setAttribute("width", width);
    lanes.setAttribute("height", height);
    lanes.setAttribute("viewBox", `0 0 ${width} ${height}`);
    lanes.style.left = `${laneLeft}px`;
    const scale = (width - 2 * PAD) / model.maxCount;
    const x = (i) => PAD + i * scale;
    const y = (id) => model.order.get(id) * ROW + ROW / 2;
    // Where the active path leaves each member, to highlight only what the active member shows.
    const pathEnd = new Map();
    model.activePath.forEach((id, k) => {
      const next = model.activePath[k + 1];
      pathEnd.set(id, next ? model.start(next) : model.get(id).message_count);
    });
    const back = s("g", { class: "lanes-back" });
    const front = s("g", { class: "lanes-front" });
    lanes.append(back, front);
    for (const m of model.members) {
      const start = model.start(m.chat_id);
      const end = m.message_count;
      const yy = y(m.chat_id);
      const parent = m.parent_chat_id && model.get(m.parent_chat_id);
      const highlighted = onPath.has(m.chat_id) && (!parent || onPath.has(parent.chat_id));
      if (parent) {
        const yp = y(parent.chat_id);
        back.append(s("path", { class: "edge", d: `M${x(start)} ${yp} V${yy}` }));
        back.append(s("circle", { class: "cut", cx: x(start), cy: yp, r: 3.5 }));
        if (highlighted) front.append(s("path", { class: "edge on-path", d: `M${x(start)} ${yp} V${yy}` }));
      }
      if (end > start) {
        // At least a few pixels, so that a short branch of a long conversation still shows.
        back.append(s("line", { class: "bar", x1: x(start), y1: yy, x2: Math.max(x(end), x(start) + 4), y2: yy }));
      } else {
        back.append(s("circle", { class: "empty", cx: x(start), cy: yy, r: 4 }));
      }
      if (highlighted && pathEnd.get(m.chat_id) > start) {
        front.append(s("line", { class: "bar on-path", x1: x(start), y1: yy, x2: x(pathEnd.get(m.chat_id)), y2: yy }));
      }
      if (m.chat_id === options.selectedId) {
        front.append(s("circle", { class: "selected-end", cx: x(end), cy: yy, r: 5 }));
      }
    }
  }

  drawLanes();
  const observer = new ResizeObserver(() => drawLanes());
  observer.observe(grid);

  return {
    focus(id) {
      const row = rowEls.find((r) => r.dataset.id === id);
      if (row) focusRow(row);
    },
    reveal(id) {
      const row = rowEls.find((r) => r.dataset.id === id);
      if (row) row.scrollIntoView({ block: "nearest" });
    },
    destroy() {
      observer.disconnect();
    },
  };
}
