// The API client: relative URLs (the page lives at the stage root), the bearer token in
// sessionStorage, every error as an ApiError carrying the server's `detail`, a loading
// indicator for requests slower than 200 ms, and conditional reads (ETag / If-None-Match).

const TOKEN_KEY = "explorer.token";
const USER_KEY = "explorer.user";
const BASE = "api/v1/";

export class ApiError extends Error {
  constructor(status, detail, retryAfter) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  get user() {
    return sessionStorage.getItem(USER_KEY);
  },
  set(token, user) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(USER_KEY, user);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
    etags.clear();
  },
};

// Loading indicator: shown while at least one request has been pending for 200 ms.
let pending = 0;
let busyTimer = null;
const busyListeners = new Set();
export function onBusy(listener) {
  busyListeners.add(listener);
}
function setBusy(on) {
  for (const listener of busyListeners) listener(on);
}
function started() {
  pending += 1;
  if (pending === 1) {
    busyTimer = setTimeout(() => setBusy(true), 200);
  }
}
function finished() {
  pending -= 1;
  if (pending === 0) {
    clearTimeout(busyTimer);
    busyTimer = null;
    setBusy(false);
  }
}

// A 401 anywhere but login ends the session; the app decides where to go.
let unauthorizedHandler = () => {};
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

// GET answers kept for revalidation: url -> {etag, body}. Bounded, oldest dropped first.
const etags = new Map();
const ETAG_ENTRIES = 200;

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/**
 * request("GET", "chats/get-chat", {query: {...}, body, idempotent: true, raw: false})
 * Resolves with the parsed JSON; rejects with ApiError (status 0 for a network failure).
 */
export async function request(method, path, options = {}) {
  const url = BASE + path + query(options.query || {});
  const headers = { Accept: "application/json" };
  const token = session.token;
  if (token && !options.anonymous) headers.Authorization = `Bearer ${token}`;
  let body;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  }
  if (options.idempotent) headers["Idempotency-Key"] = options.key || newKey();
  const cached = method === "GET" ? etags.get(url) : undefined;
  if (cached) headers["If-None-Match"] = cached.etag;

  started();
  let response;
  try {
    response = await fetch(url, { method, headers, body, cache: "no-store", credentials: "omit" });
  } catch (error) {
    finished();
    throw new ApiError(0, `The server cannot be reached (${error.message}).`);
  }
  try {
    if (response.status === 304 && cached) {
      etags.delete(url);
      etags.set(url, cached);
      return cached.body;
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const detail =
        data && typeof data.detail === "string" ? data.detail : `${response.status} ${response.statusText || "error"}`;
      const error = new ApiError(response.status, detail, response.headers.get("Retry-After"));
      if (response.status === 401 && !options.anonymous) unauthorizedHandler(error);
      throw error;
    }
    const etag = response.headers.get("ETag");
    if (method === "GET" && etag) {
      etags.set(url, { etag, body: data });
      if (etags.size > ETAG_ENTRIES) etags.delete(etags.keys().next().value);
    }
    return data;
  } finally {
    finished();
  }
}

export const api = {
  register: (username, password) =>
    request("POST", "auth/register", { body: { username, password }, anonymous: true }),
  login: (username, password) => request("POST", "auth/login", { body: { username, password }, anonymous: true }),

  listChats: (q) => request("GET", "chats/list-chats", { query: q }),
  listDeleted: (q) => request("GET", "chats/list-deleted", { query: q }),
  getChat: (chatId, limit, before) => request("GET", "chats/get-chat", { query: { chat_id: chatId, limit, before } }),
  getTree: (chatId, cursor) => request("GET", "chats/get-tree", { query: { chat_id: chatId, cursor } }),
  createChat: (name, key) => request("POST", "chats/create-chat", { body: { name }, idempotent: true, key }),
  updateChat: (chatId, changes) => request("PATCH", "chats/update-chat", { query: { chat_id: chatId }, body: changes }),
  deleteChat: (chatId) => request("DELETE", "chats/delete-chat", { query: { chat_id: chatId } }),
  restoreChat: (chatId) => request("POST", "chats/restore-chat", { query: { chat_id: chatId } }),
  exportChat: (chatId) => request("GET", "chats/export-chat", { query: { chat_id: chatId } }),
  importChats: (text, key) => request("POST", "chats/import-chats", { body: text, idempotent: true, key }),
  forkChat: (chatId, name, messageIndex) =>
    request("POST", "chats/fork-chat", { body: { chat_id: chatId, name, message_index: messageIndex } }),

  addMessage: (chatId, question, response, key) =>
    request("POST", "messages/add-message", { body: { chat_id: chatId, question, response }, idempotent: true, key }),
  searchMessages: (q, cursor) => request("GET", "messages/search-messages", { query: { q, cursor, limit: 20 } }),
  editMessage: (chatId, index, question, response, key) =>
    request("POST", "messages/edit-message", {
      body: { chat_id: chatId, message_index: index, question, response },
      idempotent: true,
      key,
    }),
  regenerateMessage: (chatId, index, response, key) =>
    request("POST", "messages/regenerate-message", {
      body: { chat_id: chatId, message_index: index, response },
      idempotent: true,
      key,
    }),

  createBranch: (parentId, index, name, key) =>
    request("POST", "branches/create-branch", {
      body: { parent_chat_id: parentId, message_index: index, name },
      idempotent: true,
      key,
    }),
  setActive: (chatId, branchId) =>
    request("PUT", "branches/set-active-branch", { query: { chat_id: chatId }, body: { branch_id: branchId } }),
  deleteBranch: (branchId) => request("DELETE", "branches/delete-branch", { query: { branch_id: branchId } }),
  restoreBranch: (branchId) => request("POST", "branches/restore-branch", { query: { branch_id: branchId } }),
  pruneBranches: (chatId) => request("POST", "branches/prune-branches", { query: { chat_id: chatId } }),
  promoteBranch: (branchId) => request("POST", "branches/promote-branch", { query: { branch_id: branchId } }),
  compare: (a, b, from) => request("GET", "branches/compare-branches", { query: { a, b, from, limit: 50 } }),
};
