// The README's journey through openapi-fetch, typed by openapi-typescript's output for
// openapi.yaml (generated/api.d.ts, made by scripts/check-clients.sh, never edited). tsc --strict
// checks every path, parameter, body and answer against the schema; then node runs it:
//
//   node build/journey.js http://127.0.0.1:3000
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/api.js";

type ErrorBody = components["schemas"]["Error"];

const baseUrl = process.argv[2] ?? "http://127.0.0.1:3000";
let steps = 0;

function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`journey: ${what}`);
}

/** A success: the status and the typed body. */
function ok<T>(result: { data?: T; error?: unknown; response: Response }, what: string): T {
  steps++;
  check(result.response.status === 200 && result.data !== undefined, `${what}: ${result.response.status} ${JSON.stringify(result.error)}`);
  return result.data;
}

/** An error: the status and its `detail`, read from the typed error body. */
function fails(result: { error?: ErrorBody; response: Response }, status: number, startsWith: string): void {
  steps++;
  check(result.response.status === status, `expected ${status}, got ${result.response.status}`);
  const detail: string | undefined = result.error?.detail;
  check(detail !== undefined && detail.startsWith(startsWith), `detail ${detail}`);
  console.log(`  ${status}: ${detail}`);
}

const anonymous = createClient<paths>({ baseUrl });
const username = `ts-${crypto.randomUUID().slice(0, 12)}`;
const password = "wonderland";

// Register; the username is then taken.
const account = ok(await anonymous.POST("/api/v1/auth/register", { body: { username, password } }), "register");
check(account.username === username, "registered username");
fails(await anonymous.POST("/api/v1/auth/register", { body: { username, password } }), 409, "Username already registered");

// Log in; a wrong password is a 401.
fails(await anonymous.POST("/api/v1/auth/login", { body: { username, password: "not-the-password" } }), 401, "Invalid credentials");
const token = ok(await anonymous.POST("/api/v1/auth/login", { body: { username, password } }), "login");
check(token.token_type === "bearer", "bearer token");
const client = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token.access_token}` } });

// Create a chat; add a pair with an Idempotency-Key, twice: the second is the first answer.
const chat = ok(await client.POST("/api/v1/chats/create-chat", { body: { name: "My first chat" } }), "create-chat");
check(chat.message_count === 0 && chat.parent_chat_id === null, "a new root chat");
fails(await client.POST("/api/v1/chats/create-chat", { body: { name: "   " } }), 422, "name: must not be blank");
const key = crypto.randomUUID();
const body = { chat_id: chat.chat_id, question: "What is MongoDB?", response: "A document database." };
const first = ok(await client.POST("/api/v1/messages/add-message", { body, params: { header: { "Idempotency-Key": key } } }), "add-message");
const replay = await client.POST("/api/v1/messages/add-message", { body, params: { header: { "Idempotency-Key": key } } });
check(ok(replay, "replay").response_id === first.response_id && replay.response.headers.get("Idempotent-Replayed") === "true", "replayed");
fails(
  await client.POST("/api/v1/messages/add-message", { body: { chat_id: crypto.randomUUID(), question: "q", response: "r" } }),
  404,
  "Chat not found",
);

// Read it.
const read = ok(await client.GET("/api/v1/chats/get-chat", { params: { query: { chat_id: chat.chat_id } } }), "get-chat");
check(read.messages.length === 1 && read.messages[0]?.question === "What is MongoDB?", "the message");

// Branch after message 0, add to it, list the branches, make it active, read it.
const branch = ok(
  await client.POST("/api/v1/branches/create-branch", { body: { parent_chat_id: chat.chat_id, message_index: 0, name: "Try again" } }),
  "create-branch",
);
check(branch.parent_chat_id === chat.chat_id && branch.root_chat_id === chat.chat_id, "branch lineage");
fails(
  await client.POST("/api/v1/branches/create-branch", { body: { parent_chat_id: chat.chat_id, message_index: 5, name: "Too far" } }),
  422,
  "message_index:",
);
ok(
  await client.POST("/api/v1/messages/add-message", { body: { chat_id: branch.branch_id, question: "And in one word?", response: "Documents." } }),
  "add to the branch",
);
const branches = ok(await client.GET("/api/v1/branches/get-branches", { params: { query: { chat_id: chat.chat_id } } }), "get-branches");
check(branches.length === 1 && branches[0]?.branch_id === branch.branch_id, "one branch");
const active = ok(
  await client.PUT("/api/v1/branches/set-active-branch", { params: { query: { chat_id: chat.chat_id } }, body: { branch_id: branch.branch_id } }),
  "set-active-branch",
);
check(active.active_branch_id === branch.branch_id, "the branch is active");
const onBranch = ok(await client.GET("/api/v1/chats/get-chat", { params: { query: { chat_id: branch.branch_id } } }), "get-chat of the branch");
check(onBranch.active && onBranch.messages.map((m) => m.question).join("|") === "What is MongoDB?|And in one word?", "branch history");
fails(await client.GET("/api/v1/chats/get-chat", { params: { query: { chat_id: crypto.randomUUID() } } }), 404, "Chat not found");

// Delete the account: its token is refused from then on.
ok(await client.DELETE("/api/v1/auth/delete-account", { body: { password } }), "delete-account");
fails(await client.GET("/api/v1/chats/get-chat", { params: { query: { chat_id: chat.chat_id } } }), 401, "");
console.log(`typescript client journey: ${steps} requests answered as documented`);
