// What the page tells the person: an error banner with the server's `detail` (and Retry for a
// 503 or a failed connection), toasts (with Undo), and announcements for screen readers.

import { ApiError } from "./api.js";
import { $ } from "./ui.js";

export function announce(text) {
  const live = $("#live");
  live.textContent = "";
  setTimeout(() => (live.textContent = text), 30);
}

let retryAction = null;
export function showError(error, retry) {
  const banner = $("#banner");
  const detail = error instanceof ApiError ? error.detail : String(error && error.message ? error.message : error);
  const status = error instanceof ApiError && error.status ? ` (${error.status})` : "";
  $("#banner-text").textContent = `${detail}${status}`;
  banner.dataset.status = error instanceof ApiError ? String(error.status) : "";
  const canRetry = retry && error instanceof ApiError && (error.status === 503 || error.status === 0);
  retryAction = canRetry ? retry : null;
  $("#banner-retry").hidden = !canRetry;
  banner.hidden = false;
}
export function clearError() {
  $("#banner").hidden = true;
  retryAction = null;
}

/** Runs an action; any error is shown in the page (its `detail`), a 503 with a Retry button. */
export async function act(action) {
  clearError();
  try {
    return await action();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return undefined; // back at the login
    if (!(error instanceof ApiError)) console.error(error);
    showError(error, () => act(action));
    return undefined;
  }
}

let toastTimer = null;
export function toast(text, undo) {
  const el = $("#toast");
  $("#toast-text").textContent = text;
  const undoButton = $("#toast-undo");
  undoButton.hidden = !undo;
  undoButton.onclick = undo
    ? () => {
        el.hidden = true;
        act(undo);
      }
    : null;
  el.hidden = false;
  announce(text);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), undo ? 12000 : 5000);
}

export function wireFeedback() {
  $("#banner-close").addEventListener("click", clearError);
  $("#banner-retry").addEventListener("click", () => {
    const retry = retryAction;
    clearError();
    if (retry) retry();
  });
  $("#toast-close").addEventListener("click", () => ($("#toast").hidden = true));
}
