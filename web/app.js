// The conversation explorer: the list of conversations, one conversation's messages beside
// its tree, and every operation on them. State lives here; api.js talks to the server,
// tree.js draws the tree, ui.js holds the DOM helpers, feedback.js errors and toasts.

import { api, ApiError, session, newKey, onBusy, onUnauthorized } from "./api.js";
import { TreeModel, renderTree } from "./tree.js";
import { h, $, $$, clear, plural, when, highlight, ask, confirmAction } from "./ui.js";
import { act, showError, toast, wireFeedback } from "./feedback.js";

const PAGE = 50; // messages per get-chat page
const LIST_PAGE = 30;

const state = {
  filter: "all",
  list: { items: [], cursor: null, done: false, loading: false, generation: 0 },
  search: { q: "", items: [], cursor: null, done: true, loading: false, generation: 0 },
  conv: null, // the open conversation: {rootId, summary, model, tree}
  view: null, // the member being read: {id, chat, messages: Map, lo, hi, count}
  treeView: null,
  compare: null,
  firstRenderMarked: false,
};

onBusy((on) => {
  $("#busy").hidden = !on;
  document.body.setAttribute("aria-busy", on ? "true" : "false");
});

onUnauthorized((error) => {
  session.clear();
  showLogin(`${error.detail} — please log in again.`);
});

// ---------------------------------------------------------------------------------------------
// Login

function showLogin(message) {
  state.conv = null;
  state.view = null;
  $("#app-view").hidden = true;
  $("#login-view").hidden = false;
  const error = $("#login-error");
  error.textContent = message || "";
  error.hidden = !message;
  $("#login-user").focus();
}

async function authenticate(register) {
  const username = $("#login-user").value.trim();
  const password = $("#login-password").value;
  const error = $("#login-error");
  error.hidden = true;
  const buttons = [$("#login-submit"), $("#register")];
  buttons.forEach((b) => (b.disabled = true));
  try {
    if (register) await api.register(username, password);
    const token = await api.login(username, password);
    session.set(token.access_token, username);
    $("#login-password").value = "";
    startApp();
  } catch (e) {
    error.textContent = e instanceof ApiError ? e.detail : String(e);
    error.hidden = false;
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

function startApp() {
  $("#login-view").hidden = true;
  $("#app-view").hidden = false;
  $("#whoami").textContent = session.user || "";
  const target = parseHash();
  if (target) openConversation(target.id, { index: target.index });
  else showScreen("list");
  reloadList();
}

// ---------------------------------------------------------------------------------------------
// Screens (narrow widths show the list or the conversation, and the messages or the tree)

function showScreen(screen) {
  document.body.dataset.screen = screen;
  if (screen === "list") setTimeout(maybeLoadMore, 0); // the list may have been hidden
}
function showTab(tab) {
  document.body.dataset.tab = tab;
  $("#tab-messages").setAttribute("aria-selected", String(tab === "messages"));
  $("#tab-tree").setAttribute("aria-selected", String(tab === "tree"));
  $("#tab-messages").tabIndex = tab === "messages" ? 0 : -1;
  $("#tab-tree").tabIndex = tab === "tree" ? 0 : -1;
}

function parseHash() {
  const m = location.hash.match(/^#\/c\/([0-9a-f-]{36})(?:\/(\d+))?$/i);
  return m ? { id: m[1], index: m[2] === undefined ? undefined : Number(m[2]) } : null;
}
function setHash(id) {
  const hash = id ? `#/c/${id}` : "";
  if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname + location.search);
}

// ---------------------------------------------------------------------------------------------
// The conversation list: filters, infinite scroll, search

const FILTERS = {
  all: {},
  pinned: { pinned: true },
  archived: { archived: true },
  trash: null,
};

function reloadList() {
  const list = state.list;
  list.generation += 1;
  list.items = [];
  list.cursor = null;
  list.done = false;
  list.loading = false;
  list.fresh = true; // the old items stay on screen until the first page replaces them
  return loadMore();
}

async function loadMore() {
  if (state.search.q) return loadMoreSearch();
  const list = state.list;
  if (list.loading || list.done) return;
  list.loading = true;
  const generation = list.generation;
  $("#list-status").textContent = "Loading…";
  try {
    const q = { limit: LIST_PAGE, cursor: list.cursor };
    const page =
      state.filter === "trash" ? await api.listDeleted(q) : await api.listChats({ ...q, ...FILTERS[state.filter] });
    if (generation !== list.generation) return;
    list.items.push(...page.items);
    list.cursor = page.next_cursor;
    list.done = !page.next_cursor;
    if (list.fresh) {
      list.fresh = false;
      renderList();
    } else renderList(page.items);
  } catch (error) {
    if (generation !== list.generation) return;
    list.done = true;
    if (list.fresh) {
      list.fresh = false;
      renderList();
    }
    if (!(error instanceof ApiError && error.status === 401)) {
      showError(error, () => {
        list.done = false;
        return loadMore();
      });
    }
  } finally {
    if (generation === list.generation) {
      list.loading = false;
      updateListStatus();
      maybeLoadMore();
    }
  }
}

function updateListStatus() {
  const list = state.list;
  const status = $("#list-status");
  if (state.search.q) return;
  if (!list.done) status.textContent = list.loading ? "Loading…" : "";
  else if (!list.items.length)
    status.textContent = {
      all: "No conversations yet.",
      pinned: "No pinned conversations.",
      archived: "No archived conversations.",
      trash: "The trash is empty.",
    }[state.filter];
  else status.textContent = plural(list.items.length, "conversation");
}

/** Keeps loading while the sentinel is visible (a short first page does not fill the list). */
function maybeLoadMore() {
  const scroller = $("#list-scroll");
  const sentinel = $("#list-sentinel");
  if (scroller.offsetParent === null) return;
  const gap = sentinel.getBoundingClientRect().top - scroller.getBoundingClientRect().bottom;
  if (gap < 200) loadMore();
}

function conversationItem(c) {
  const trash = state.filter === "trash";
  const open = h(
    "button",
    {
      type: "button",
      class: "conv",
      dataset: { id: c.chat_id },
      "aria-current": state.conv && state.conv.rootId === c.chat_id ? "true" : null,
      onclick: () => (trash ? null : openConversation(c.active_branch_id || c.chat_id, { rootId: c.chat_id })),
      disabled: trash,
    },
    h(
      "span",
      { class: "conv-line" },
      c.pinned && h("span", { class: "pin", title: "Pinned", "aria-label": "Pinned" }, "●"),
      h("span", { class: "conv-name" }, c.name),
      h("span", { class: "conv-date" }, when(trash ? c.deleted_at : c.updated_at, true)),
    ),
    h("span", { class: "conv-preview" }, c.preview || "No messages yet"),
    h(
      "span",
      { class: "conv-meta" },
      `${plural(c.message_count, "message")} · ${plural(c.branch_count, "branch", "branches")}`,
    ),
  );
  const li = h("li", { class: "conv-item" }, open);
  if (trash) {
    li.append(
      h(
        "button",
        {
          type: "button",
          class: "btn btn-small restore",
          onclick: () =>
            act(async () => {
              await api.restoreChat(c.chat_id);
              toast(`Restored “${c.name}”.`);
              reloadList();
            }),
        },
        "Restore",
      ),
    );
  }
  return li;
}

function renderList(appended) {
  const ul = $("#chat-list");
  if (!appended) clear(ul);
  for (const c of appended || state.list.items) ul.append(conversationItem(c));
  updateListStatus();
}

function markCurrentInList() {
  for (const button of $$("#chat-list .conv")) {
    const current = state.conv && state.conv.rootId === button.dataset.id;
    if (current) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

function setFilter(filter) {
  state.filter = filter;
  for (const chip of $$(".filters .chip")) chip.setAttribute("aria-pressed", String(chip.dataset.filter === filter));
  $("#new-chat").hidden = filter === "trash";
  reloadList();
}

// Search
function startSearch(q) {
  const search = state.search;
  search.q = q.trim();
  search.generation += 1;
  search.items = [];
  search.cursor = null;
  search.done = !search.q;
  search.loading = false;
  $("#search-results").hidden = !search.q;
  $("#chat-list").hidden = !!search.q;
  clear($("#search-results"));
  if (!search.q) {
    updateListStatus();
    return;
  }
  loadMoreSearch();
}

async function loadMoreSearch() {
  const search = state.search;
  if (search.loading || search.done) return;
  search.loading = true;
  const generation = search.generation;
  $("#list-status").textContent = "Searching…";
  try {
    const page = await api.searchMessages(search.q, search.cursor);
    if (generation !== search.generation) return;
    search.items.push(...page.items);
    search.cursor = page.next_cursor;
    search.done = !page.next_cursor;
    const ul = $("#search-results");
    for (const hit of page.items) ul.append(searchItem(hit, search.q));
  } catch (error) {
    if (generation !== search.generation) return;
    search.done = true;
    showError(error);
  } finally {
    if (generation === search.generation) {
      search.loading = false;
      $("#list-status").textContent = search.done
        ? search.items.length
          ? plural(search.items.length, "match", "matches")
          : `Nothing matches “${search.q}”.`
        : "";
      maybeLoadMore();
    }
  }
}

function searchItem(hit, q) {
  const where = hit.index === null ? "conversation name" : `message ${hit.index + 1}`;
  return h(
    "li",
    { class: "conv-item" },
    h(
      "button",
      {
        type: "button",
        class: "conv hit",
        dataset: { id: hit.root_chat_id },
        onclick: () =>
          openConversation(hit.chat_id, { rootId: hit.root_chat_id, index: hit.index === null ? undefined : hit.index }),
      },
      h(
        "span",
        { class: "conv-line" },
        h("span", { class: "conv-name" }, hit.chat_name),
        h("span", { class: "conv-date" }, when(hit.timestamp, true)),
      ),
      h("span", { class: "snippet" }, highlight(hit.snippet, q)),
      h(
        "span",
        { class: "conv-meta" },
        `${where}${hit.shown_in.length > 1 ? ` · also in ${plural(hit.shown_in.length - 1, "other branch", "other branches")}` : ""}`,
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// A conversation: its tree and one member's messages

async function loadTree(id) {
  const first = await api.getTree(id);
  if (!first.next_cursor) return first;
  const tree = { ...first, members: [...first.members] };
  let cursor = first.next_cursor;
  while (cursor) {
    const page = await api.getTree(id, cursor);
    tree.members.push(...page.members);
    cursor = page.next_cursor;
  }
  return tree;
}

/** Reads the page of member `id` that ends just after `index` (or the newest page). */
function loadPage(id, index) {
  return api.getChat(id, PAGE, index === undefined ? undefined : index + 1);
}

function pageRange(index, count) {
  if (index === undefined) return undefined;
  // Show some messages after the one asked for, when there are.
  return Math.min(count - 1, index + Math.floor(PAGE / 3));
}

async function openConversation(id, options = {}) {
  return act(async () => {
    const started = performance.now();
    const [tree, chat] = await Promise.all([loadTree(id), loadPage(id, options.index)]);
    let page = chat;
    if (options.index !== undefined) {
      const end = pageRange(options.index, chat.message_count);
      if (end !== options.index) page = await loadPage(id, end);
    }
    state.conv = { rootId: tree.root_chat_id, model: new TreeModel(tree), tree };
    state.compare = null;
    setView(page);
    showScreen("conversation");
    renderConversation({ scrollTo: options.index });
    markCurrentInList();
    setHash(id);
    if (!state.firstRenderMarked) {
      state.firstRenderMarked = true;
      performance.mark("explorer:conversation-rendered");
      window.explorerTiming = { rendered: performance.now(), opened: started };
    }
  });
}

function setView(chat) {
  const messages = new Map(chat.messages.map((m) => [m.index, m]));
  const lo = chat.messages.length ? chat.messages[0].index : chat.message_count;
  const hi = chat.messages.length ? chat.messages[chat.messages.length - 1].index + 1 : chat.message_count;
  state.view = { id: chat.chat_id, chat, messages, lo, hi, count: chat.message_count, loading: false };
}

/** Opens another member of the open conversation (the tree is already loaded). */
async function openMember(id, index) {
  return act(async () => {
    const member = state.conv && state.conv.model.get(id);
    let page = await loadPage(id, member ? pageRange(index, member.message_count) : index);
    if (!member && index !== undefined) {
      const end = pageRange(index, page.message_count);
      if (end !== index) page = await loadPage(id, end);
    }
    setView(page);
    state.compare = null;
    renderConversation({ scrollTo: index });
    setHash(id);
  });
}

/** After a change: reads the tree and the member again (revalidating with ETags). */
async function refresh({ viewId, index, list = true, scrollBottom = false } = {}) {
  const id = viewId || state.view.id;
  const tree = await loadTree(id);
  const member = tree.members.find((m) => m.chat_id === id);
  const page = await loadPage(id, member ? pageRange(index, member.message_count) : index);
  state.conv = { rootId: tree.root_chat_id, model: new TreeModel(tree), tree };
  setView(page);
  renderConversation({ scrollTo: index, scrollBottom: scrollBottom || index === undefined });
  setHash(id);
  if (list) reloadList();
}

function renderConversation({ scrollTo, scrollBottom = true } = {}) {
  const { model } = state.conv;
  const view = state.view;
  const member = model.get(view.id) || { name: view.chat.name, chat_id: view.id };
  const root = model.get(model.rootId);
  const summary = state.list.items.find((c) => c.chat_id === model.rootId);

  $("#empty").hidden = true;
  $("#conversation").hidden = false;
  $("#conv-name").textContent = root ? root.name : view.chat.name;
  // The list's copy is the freshest after a change here; get-tree's serves a conversation
  // opened from a link or a search hit that the loaded list pages do not hold.
  const { pinned, archived } = summary || state.conv.tree;
  state.conv.pinned = pinned;
  state.conv.archived = archived;
  $("#pin").textContent = pinned ? "Unpin" : "Pin";
  $("#pin").setAttribute("aria-pressed", String(pinned));
  $("#archive").textContent = archived ? "Unarchive" : "Archive";
  $("#archive").setAttribute("aria-pressed", String(archived));

  // Breadcrumb: the path from the root to the member being read.
  const crumbs = clear($("#conv-path"));
  const path = model.path(view.id);
  crumbs.hidden = path.length < 2;
  path.forEach((id, i) => {
    const m = model.get(id);
    if (i) crumbs.append(h("span", { class: "crumb-sep", "aria-hidden": "true" }, "›"));
    crumbs.append(
      i === path.length - 1
        ? h("span", { class: "crumb current", "aria-current": "page" }, m.name)
        : h("button", { type: "button", class: "crumb", onclick: () => openMember(id) }, m.name),
    );
  });

  // The member bar.
  const isRoot = !member.parent_chat_id;
  const isActive = view.id === model.activeId;
  $("#member-name").textContent = member.name;
  const meta = [plural(view.count, "message")];
  if (!isRoot) {
    const parent = model.get(member.parent_chat_id);
    const cut = member.created_from_message_index;
    meta.push(cut < 0 ? `branch of “${parent.name}” from the start` : `branch of “${parent.name}” after message ${cut + 1}`);
  } else meta.push("main line");
  meta.push(isActive ? "active" : "not active");
  $("#member-meta").textContent = meta.join(" · ");
  $("#member-name").dataset.active = String(isActive);
  $("#set-active").disabled = isActive;
  $("#set-active").textContent = isActive ? "Active" : "Set active";
  $("#promote").hidden = isRoot;
  $("#delete-branch").hidden = isRoot;
  $("#prune").disabled = model.members.length <= path.length;
  $("#compare").disabled = model.members.length < 2;

  renderMessages({ scrollTo, scrollBottom });
  renderTreePane();
  $("#compare-view").hidden = !state.compare;
  $("#panes").hidden = !!state.compare;
  document.body.dataset.rendered = view.id;
}

function renderTreePane() {
  const { model } = state.conv;
  $("#tree-meta").textContent = `${plural(model.members.length, "member")} · active: ${model.get(model.activeId)?.name ?? "?"}`;
  const hadFocus = $("#tree").contains(document.activeElement);
  if (state.treeView) state.treeView.destroy();
  state.treeView = renderTree($("#tree"), model, {
    selectedId: state.view.id,
    onOpen: (id) => {
      openMember(id).then(() => {
        if (document.body.dataset.tab === "tree" && window.matchMedia("(max-width: 820px)").matches) showTab("messages");
      });
    },
  });
  state.treeView.reveal(state.view.id);
  if (hadFocus) state.treeView.focus(state.view.id);
}

// Messages

function messageItem(m) {
  const { model } = state.conv;
  const view = state.view;
  const start = model.get(view.id) ? model.start(view.id) : 0;
  const alternatives = model.alternatives(view.id, m.index);
  const owner = model.owner(view.id, m.index);
  const inherited = owner !== view.id;
  const number = m.index + 1;

  const head = h(
    "div",
    { class: "msg-head" },
    h("span", { class: "msg-number" }, `#${number}`),
    inherited && h("span", { class: "msg-from", title: "Stored in this branch's ancestor" }, `from ${model.get(owner)?.name ?? "parent"}`),
    h("time", { class: "msg-time", datetime: m.timestamp }, when(m.timestamp)),
  );
  if (alternatives) {
    const { owners, current } = alternatives;
    const go = (k) => {
      const target = model.representative(owners[k], m.index);
      openMember(target, m.index);
    };
    head.append(
      h(
        "span",
        { class: "alts", role: "group", "aria-label": `Version ${current + 1} of ${owners.length} of message ${number}` },
        h(
          "button",
          {
            type: "button",
            class: "alt-prev",
            "aria-label": "Previous version",
            disabled: current === 0,
            onclick: () => go(current - 1),
          },
          "‹",
        ),
        h("span", { class: "alt-count", "aria-hidden": "true" }, `${current + 1} / ${owners.length}`),
        h(
          "button",
          {
            type: "button",
            class: "alt-next",
            "aria-label": "Next version",
            disabled: current === owners.length - 1,
            onclick: () => go(current + 1),
          },
          "›",
        ),
      ),
    );
  }
  const actions = h(
    "div",
    { class: "msg-actions" },
    h("button", { type: "button", class: "link", onclick: () => branchHere(m) }, "Branch here"),
    h("button", { type: "button", class: "link", onclick: () => editMessage(m) }, "Edit"),
    h("button", { type: "button", class: "link", onclick: () => regenerate(m) }, "Regenerate"),
  );
  const li = h(
    "li",
    { class: `msg${inherited ? " inherited" : ""}`, id: `msg-${m.index}`, dataset: { index: m.index } },
    head,
    h("div", { class: "bubble question" }, h("span", { class: "role" }, "Question"), h("p", { class: "text" }, m.question)),
    h(
      "div",
      { class: "bubble response" },
      h("span", { class: "role" }, "Response"),
      m.response ? h("p", { class: "text" }, m.response) : h("p", { class: "text empty-response" }, "(empty response)"),
    ),
    actions,
  );
  const nodes = [];
  if (m.index === start && start > 0 && view.id !== model.rootId) {
    nodes.push(h("li", { class: "divider", role: "presentation" }, h("span", {}, `“${model.get(view.id).name}” starts here`)));
  }
  nodes.push(li);
  return nodes;
}

function renderMessages({ scrollTo, scrollBottom = true, keepFromBottom } = {}) {
  const view = state.view;
  const scroller = $("#messages");
  const list = clear($("#message-list"));
  const indices = [...view.messages.keys()].sort((a, b) => a - b);
  for (const i of indices) list.append(...messageItem(view.messages.get(i)));
  const older = $("#older");
  older.hidden = view.lo <= 0;
  older.textContent = view.lo > 0 ? `${plural(view.lo, "earlier message")} — scroll up to read` : "";
  $("#messages-empty").hidden = view.count > 0;
  if (keepFromBottom !== undefined) {
    scroller.scrollTop = scroller.scrollHeight - keepFromBottom;
  } else if (scrollTo !== undefined) {
    const el = document.getElementById(`msg-${scrollTo}`);
    if (el) {
      el.scrollIntoView({ block: "center" });
      el.classList.add("flash");
      setTimeout(() => el.classList.remove("flash"), 1600);
    }
  } else if (scrollBottom) {
    scroller.scrollTop = scroller.scrollHeight;
  }
  // A first page too short to scroll cannot ask for the one before it: read it now.
  if (view.lo > 0 && scroller.clientHeight && scroller.scrollHeight <= scroller.clientHeight + 300) {
    setTimeout(loadOlder, 0);
  }
}

async function loadOlder() {
  const view = state.view;
  if (!view || view.loading || view.lo <= 0) return;
  view.loading = true;
  try {
    const page = await api.getChat(view.id, PAGE, view.lo);
    if (state.view !== view) return;
    for (const m of page.messages) view.messages.set(m.index, m);
    view.lo = page.messages.length ? page.messages[0].index : 0;
    const scroller = $("#messages");
    renderMessages({ keepFromBottom: scroller.scrollHeight - scroller.scrollTop });
  } catch (error) {
    showError(error, loadOlder);
  } finally {
    view.loading = false;
  }
}

async function loadNewer() {
  const view = state.view;
  if (!view || view.loading || view.hi >= view.count) return;
  view.loading = true;
  try {
    const page = await api.getChat(view.id, PAGE, Math.min(view.count, view.hi + PAGE));
    if (state.view !== view) return;
    for (const m of page.messages) view.messages.set(m.index, m);
    if (page.messages.length) view.hi = page.messages[page.messages.length - 1].index + 1;
    const scroller = $("#messages");
    const top = scroller.scrollTop;
    renderMessages({ scrollBottom: false });
    scroller.scrollTop = top;
  } catch (error) {
    showError(error, loadNewer);
  } finally {
    view.loading = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Operations

async function branchHere(m) {
  const viewId = state.view.id;
  const answer = await ask({
    title: "Branch here",
    description: `The new branch keeps messages 1–${m.index + 1} and goes its own way after them.`,
    fields: [{ name: "name", label: "Branch name", value: `Branch at #${m.index + 1}`, required: true }],
    submit: "Create branch",
  });
  if (!answer) return;
  const key = newKey(); // one key for the action: a Retry after a 503 cannot make two branches
  await act(async () => {
    const branch = await api.createBranch(viewId, m.index, answer.name, key);
    await refresh({ viewId: branch.branch_id });
    toast(`Branch “${branch.name}” created.`);
    $("#composer-question").focus();
  });
}

async function editMessage(m) {
  const viewId = state.view.id;
  const answer = await ask({
    title: `Edit message ${m.index + 1}`,
    description: "Makes a new branch with the edited pair in place of this one, and makes it active.",
    fields: [
      { name: "question", label: "Question", value: m.question, multiline: true, required: true },
      { name: "response", label: "Response", value: m.response, multiline: true },
    ],
    submit: "Save as new branch",
  });
  if (!answer) return;
  const key = newKey();
  await act(async () => {
    const chat = await api.editMessage(viewId, m.index, answer.question, answer.response, key);
    await refresh({ viewId: chat.chat_id, index: m.index });
    toast(`Edited: now on “${chat.name}”.`);
  });
}

async function regenerate(m) {
  const viewId = state.view.id;
  const answer = await ask({
    title: `Regenerate response ${m.index + 1}`,
    description: "Makes a new branch with the same question and this new response, and makes it active.",
    fields: [{ name: "response", label: "New response", value: "", multiline: true }],
    submit: "Save as new branch",
  });
  if (!answer) return;
  const key = newKey();
  await act(async () => {
    const chat = await api.regenerateMessage(viewId, m.index, answer.response, key);
    await refresh({ viewId: chat.chat_id, index: m.index });
    toast(`Regenerated: now on “${chat.name}”.`);
  });
}

async function addPair(event) {
  event.preventDefault();
  const questionField = $("#composer-question");
  const responseField = $("#composer-response");
  const question = questionField.value;
  const response = responseField.value;
  if (!question.trim()) {
    showError(new Error("Write a question first."));
    questionField.focus();
    return;
  }
  const viewId = state.view.id;
  const key = newKey(); // a Retry after a 503 sends the same key: the pair is stored once
  const button = $("#composer-add");
  button.disabled = true;
  await act(async () => {
    await api.addMessage(viewId, question, response, key);
    if (questionField.value === question) questionField.value = "";
    if (responseField.value === response) responseField.value = "";
    await refresh({ viewId, scrollBottom: true });
    questionField.focus();
  });
  button.disabled = false;
}

function setActive() {
  return act(async () => {
    await api.setActive(state.view.id, state.view.id);
    await refresh();
    toast(`“${state.conv.model.get(state.view.id).name}” is now the active branch.`);
  });
}

async function renameMember() {
  const member = state.conv.model.get(state.view.id);
  const answer = await ask({
    title: member.parent_chat_id ? "Rename the branch" : "Rename the conversation",
    fields: [{ name: "name", label: "Name", value: member.name, required: true }],
    submit: "Rename",
  });
  if (!answer) return;
  await act(async () => {
    await api.updateChat(member.chat_id, { name: answer.name });
    await refresh({ viewId: member.chat_id });
  });
}

function deleteBranch() {
  return act(async () => {
    const member = state.conv.model.get(state.view.id);
    const result = await api.deleteBranch(member.chat_id);
    const parent = member.parent_chat_id;
    await refresh({ viewId: parent });
    toast(`Deleted “${member.name}” (${plural(result.chat_ids.length, "member")}).`, async () => {
      await api.restoreBranch(member.chat_id);
      await refresh({ viewId: member.chat_id });
      toast(`Restored “${member.name}”.`);
    });
  });
}

function pruneOthers() {
  return act(async () => {
    const member = state.conv.model.get(state.view.id);
    const result = await api.pruneBranches(member.chat_id);
    if (!result.chat_ids.length) {
      toast("Nothing to prune.");
      return;
    }
    await refresh();
    toast(`Pruned ${plural(result.chat_ids.length, "other branch", "other branches")}.`, async () => {
      // restore-branch also makes active again the member the deletion took from active.
      await api.restoreBranch(result.chat_ids[0]);
      await refresh();
      toast("Pruned branches restored.");
    });
  });
}

async function promote() {
  const member = state.conv.model.get(state.view.id);
  const ok = await confirmAction(
    `Promote “${member.name}”?`,
    "Its history becomes the main line; the old main line from the branch point on is kept as a new branch.",
    "Promote",
  );
  if (!ok) return;
  await act(async () => {
    const result = await api.promoteBranch(member.chat_id);
    await refresh({ viewId: result.root_chat_id });
    toast(`“${member.name}” is now the main line.`);
  });
}

async function chooseCompare() {
  const { model } = state.conv;
  const viewId = state.view.id;
  const others = model.members.filter((m) => m.chat_id !== viewId);
  const preferred = others.find((m) => m.chat_id === state.view.chat.parent_chat_id) || others[0];
  const answer = await ask({
    title: `Compare “${model.get(viewId).name}” with…`,
    fields: [
      {
        name: "other",
        label: "Other branch",
        value: preferred.chat_id,
        options: others.map((m) => ({
          value: m.chat_id,
          label: `${"\u00a0\u00a0".repeat(model.depth.get(m.chat_id))}${m.name} (${plural(m.message_count, "message")})`,
        })),
      },
    ],
    submit: "Compare",
  });
  if (!answer) return;
  await act(() => compare(viewId, answer.other));
}

async function compare(a, b) {
  const result = await api.compare(a, b);
  state.compare = { a, b, result, sides: { a: [...result.a.messages], b: [...result.b.messages] } };
  renderCompare();
}

function renderCompare() {
  const { result, sides } = state.compare;
  const d = result.divergence_index;
  $("#compare-title").textContent = `“${result.a.name}” and “${result.b.name}”`;
  $("#compare-meta").textContent =
    d === 0 ? "They differ from the first message." : `Both share messages 1–${d}; they differ from message ${d + 1}.`;
  const columns = clear($("#compare-columns"));
  for (const key of ["a", "b"]) {
    const side = result[key];
    const list = h("ol", { class: "message-list compare-list" });
    for (const m of sides[key]) {
      list.append(
        h(
          "li",
          { class: "msg", dataset: { index: m.index } },
          h("div", { class: "msg-head" }, h("span", { class: "msg-number" }, `#${m.index + 1}`)),
          h("div", { class: "bubble question" }, h("span", { class: "role" }, "Question"), h("p", { class: "text" }, m.question)),
          h("div", { class: "bubble response" }, h("span", { class: "role" }, "Response"), h("p", { class: "text" }, m.response)),
        ),
      );
    }
    if (!sides[key].length) list.append(h("li", { class: "compare-none" }, "Nothing after the shared part."));
    columns.append(
      h(
        "section",
        { class: "compare-col", "aria-label": side.name, dataset: { side: key } },
        h(
          "header",
          { class: "compare-col-head" },
          h("h4", {}, side.name),
          h("span", { class: "member-meta" }, plural(side.message_count, "message")),
          h("button", { type: "button", class: "btn btn-small", onclick: () => openMember(side.chat_id, d) }, "Open"),
        ),
        list,
      ),
    );
  }
  $("#compare-more").hidden = !(result.a.has_more || result.b.has_more);
  $("#panes").hidden = true;
  $("#compare-view").hidden = false;
  $("#compare-view").scrollIntoView({ block: "start" });
  $("#compare-close").focus();
}

async function compareMore() {
  const c = state.compare;
  const from = Math.min(...[c.result.a.next_from, c.result.b.next_from].filter((x) => x !== null));
  const page = await api.compare(c.a, c.b, from);
  for (const key of ["a", "b"]) {
    const seen = new Set(c.sides[key].map((m) => m.index));
    c.sides[key].push(...page[key].messages.filter((m) => !seen.has(m.index)));
    c.result[key] = { ...page[key] };
  }
  renderCompare();
}

function closeCompare() {
  state.compare = null;
  $("#compare-view").hidden = true;
  $("#panes").hidden = false;
  $("#compare").focus();
}

// Conversation-wide operations

async function newConversation() {
  const answer = await ask({
    title: "New conversation",
    fields: [{ name: "name", label: "Name", value: "", required: true }],
    submit: "Create",
  });
  if (!answer) return;
  const key = newKey();
  await act(async () => {
    const chat = await api.createChat(answer.name, key);
    if (state.filter !== "all") setFilter("all");
    else reloadList();
    await openConversation(chat.chat_id);
    $("#composer-question").focus();
  });
}

function updateConversation(changes, message) {
  return act(async () => {
    const result = await api.updateChat(state.conv.rootId, changes);
    const i = state.list.items.findIndex((c) => c.chat_id === state.conv.rootId);
    if (i >= 0) state.list.items[i] = result.conversation;
    else state.list.items.unshift(result.conversation);
    toast(message);
    renderConversation({ scrollBottom: false });
    reloadList();
  });
}

function deleteConversation() {
  return act(async () => {
    const rootId = state.conv.rootId;
    const name = state.conv.model.get(rootId).name;
    await api.deleteChat(rootId);
    closeConversation();
    toast(`Moved “${name}” to the trash.`, async () => {
      await api.restoreChat(rootId);
      toast(`Restored “${name}”.`);
      reloadList();
      await openConversation(rootId);
    });
    reloadList();
  });
}

function closeConversation() {
  state.conv = null;
  state.view = null;
  $("#conversation").hidden = true;
  $("#empty").hidden = false;
  showScreen("list");
  setHash(null);
  markCurrentInList();
}

function exportConversation() {
  return act(async () => {
    const data = await api.exportChat(state.conv.rootId);
    const blob = new Blob([JSON.stringify([data], null, 2)], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const name = (state.conv.model.get(state.conv.rootId).name || "conversation")
      .replace(/[^\p{L}\p{N}._ -]+/gu, "")
      .trim()
      .replace(/\s+/g, "-")
      .slice(0, 60);
    const a = h("a", { href: url, download: `${name || "conversation"}.conversations.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    toast("Exported as a conversations.json file.");
  });
}

async function importFile(file) {
  const key = newKey();
  await act(async () => {
    const text = await file.text();
    const imported = await api.importChats(text, key);
    const names = imported.map((c) => `“${c.name}”`).join(", ");
    if (state.filter !== "all") setFilter("all");
    else reloadList();
    if (imported.length) await openConversation(imported[0].chat_id);
    toast(`Imported ${plural(imported.length, "conversation")}: ${names}.`);
  });
}

// ---------------------------------------------------------------------------------------------
// Wiring

function listKeys(event) {
  if (!["ArrowDown", "ArrowUp", "Home", "End"].includes(event.key)) return;
  const ul = event.currentTarget;
  const items = $$(".conv:not([disabled])", ul);
  const i = items.indexOf(document.activeElement);
  if (i < 0) return;
  event.preventDefault();
  const next =
    event.key === "ArrowDown"
      ? items[Math.min(items.length - 1, i + 1)]
      : event.key === "ArrowUp"
        ? items[Math.max(0, i - 1)]
        : event.key === "Home"
          ? items[0]
          : items[items.length - 1];
  next.focus();
  if (event.key === "ArrowDown" && i >= items.length - 3) loadMore();
}

function wire() {
  $("#login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    authenticate(false);
  });
  $("#register").addEventListener("click", () => authenticate(true));
  $("#logout").addEventListener("click", () => {
    session.clear();
    closeConversation();
    showLogin();
  });
  wireFeedback();

  for (const chip of $$(".filters .chip")) chip.addEventListener("click", () => setFilter(chip.dataset.filter));
  $("#new-chat").addEventListener("click", newConversation);
  $("#import").addEventListener("click", () => $("#import-file").click());
  $("#import-file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (file) importFile(file);
  });

  let searchTimer = null;
  const search = $("#search");
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(searchTimer);
    startSearch(search.value);
  });
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => startSearch(search.value), 350);
  });
  search.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      search.value = "";
      startSearch("");
    } else if (event.key === "ArrowDown") {
      const first = $(state.search.q ? "#search-results .conv" : "#chat-list .conv");
      if (first) {
        event.preventDefault();
        first.focus();
      }
    }
  });

  $("#chat-list").addEventListener("keydown", listKeys);
  $("#search-results").addEventListener("keydown", listKeys);
  // Infinite scroll: near the end of the list, read the next page. (A scroll listener rather
  // than an IntersectionObserver alone: an observer that saw the sentinel while the list was
  // empty reports nothing when a page is rendered and scrolled past within one frame.)
  let listFrame = 0;
  $("#list-scroll").addEventListener(
    "scroll",
    () => {
      if (listFrame) return;
      listFrame = requestAnimationFrame(() => {
        listFrame = 0;
        maybeLoadMore();
      });
    },
    { passive: true },
  );
  window.addEventListener("resize", () => maybeLoadMore(), { passive: true });

  const messages = $("#messages");
  messages.addEventListener(
    "scroll",
    () => {
      if (!state.view) return;
      if (messages.scrollTop < 300) loadOlder();
      if (messages.scrollHeight - messages.scrollTop - messages.clientHeight < 300) loadNewer();
    },
    { passive: true },
  );

  $("#composer").addEventListener("submit", addPair);
  for (const id of ["#composer-question", "#composer-response"]) {
    $(id).addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        $("#composer").requestSubmit();
      }
    });
  }
  $("#set-active").addEventListener("click", setActive);
  $("#rename").addEventListener("click", renameMember);
  $("#compare").addEventListener("click", chooseCompare);
  $("#promote").addEventListener("click", promote);
  $("#prune").addEventListener("click", pruneOthers);
  $("#delete-branch").addEventListener("click", deleteBranch);
  $("#compare-close").addEventListener("click", closeCompare);
  $("#compare-more").addEventListener("click", () => act(compareMore));

  $("#pin").addEventListener("click", () =>
    updateConversation({ pinned: !state.conv.pinned }, state.conv.pinned ? "Unpinned." : "Pinned."),
  );
  $("#archive").addEventListener("click", () =>
    updateConversation({ archived: !state.conv.archived }, state.conv.archived ? "Moved out of the archive." : "Archived."),
  );
  $("#export").addEventListener("click", exportConversation);
  $("#delete-chat").addEventListener("click", deleteConversation);
  $("#back").addEventListener("click", () => {
    showScreen("list");
    const current = $("#chat-list .conv[aria-current]");
    if (current) current.focus();
  });

  $("#tab-messages").addEventListener("click", () => showTab("messages"));
  $("#tab-tree").addEventListener("click", () => {
    showTab("tree");
    if (state.treeView) state.treeView.reveal(state.view.id);
  });
  $(".tabs").addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      const tab = document.body.dataset.tab === "messages" ? "tree" : "messages";
      showTab(tab);
      $(`#tab-${tab}`).focus();
    }
  });

  window.addEventListener("hashchange", () => {
    const target = parseHash();
    if (target && session.token && (!state.view || state.view.id !== target.id)) {
      // On failure the address goes back to what the page shows.
      openConversation(target.id, target).then(() => setHash(state.view && state.view.id));
    }
  });
}

wire();
showTab("messages");
if (session.token) startApp();
else showLogin();
