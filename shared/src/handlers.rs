//! One function per endpoint, each the same short path: parse → authenticate → domain →
//! respond. Errors are returned as `ApiError`; `routes::Endpoint::handle` turns them into
//! responses. Bodies and query parameters are read with the typed structs of `requests`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::app::App;
use crate::chats::{self, ListFilter};
use crate::error::ApiError;
use crate::http::{self, json};
use crate::idempotency::{self, Begin, Idempotency};
use crate::requests::{
    self, ActiveBranch, BranchQuery, ChatPageQuery, ChatQuery, ChatUpdate, CompareQuery,
    Credentials, EditMessage, ExportQuery, ForkChat, ListQuery, NewBranch, NewChat, NewMessage,
    PasswordCheck, Regeneration, SearchQuery, TrashQuery, TreeQuery, query,
};
use crate::store::Store;
use crate::{accounts, branches, exports, messages, transfers, trees};

pub type Outcome = Result<Response<Body>, ApiError>;

fn ok<T: Serialize>(value: &T) -> Outcome {
    Ok(json(StatusCode::OK, value))
}

/// `POST /auth/register {username, password}` → 200 account.
pub async fn register(app: &App, request: Request) -> Outcome {
    let body: Credentials = requests::body(&request)?;
    ok(&accounts::register(app.store().await?, &body.username, &body.password).await?)
}

/// `POST /auth/login {username, password}` → 200 bearer token.
pub async fn login(app: &App, request: Request) -> Outcome {
    let body: Credentials = requests::body(&request)?;
    let store = app.store().await?;
    let tokens = app.tokens()?;
    ok(&accounts::login(store, tokens, &app.config, &body.username, &body.password).await?)
}

/// `DELETE /auth/delete-account {password}` → 200; the account and all its data are gone.
pub async fn delete_account(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let body: PasswordCheck = requests::body(&request)?;
    let store = app.store().await?;
    ok(&accounts::delete_account(store, &app.config, &account, &body.password).await?)
}

/// Answers a creating request: the domain's answer, or — when another request with the same
/// `Idempotency-Key` committed first — that request's answer.
async fn answer<T: Serialize>(
    store: &Store,
    result: Result<T, ApiError>,
    pending: Option<Idempotency>,
) -> Outcome {
    match (result, pending) {
        (Err(ApiError::Conflict(_)), Some(pending)) => match pending.recheck(store).await? {
            Some(replay) => Ok(replay),
            None => Err(ApiError::Conflict(
                "A request with this Idempotency-Key is in progress",
            )),
        },
        (result, _) => ok(&result?),
    }
}

/// `POST /chats/create-chat {name}` → 200 chat.
pub async fn create_chat(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let body: NewChat = requests::body(&request)?;
    let store = app.store().await?;
    let pending = match idempotency::begin(store, &account, &request, "create-chat", &body).await? {
        Begin::Replay(response) => return Ok(response),
        Begin::Proceed(pending) => pending,
    };
    let config = &app.config;
    let result = chats::create_chat(store, config, &account, &body.name, pending.as_ref()).await;
    answer(store, result, pending).await
}

/// `GET /chats/get-chat?chat_id=ID[&limit=N&before=I]` → 200 chat with a page of its visible
/// messages (the newest `limit`, default 100, before index `before`) and its direct branches.
pub async fn get_chat(app: &App, request: Request) -> Outcome {
    // The account is confirmed by the chat's own read (see `chats::get_chat`).
    let account = app.token_account(&request)?;
    let q: ChatPageQuery = query(&request)?;
    let store = app.store().await?;
    let offered = http::offered_tags(&request).next();
    let known = |etag: &str| http::client_has(&request, etag);
    let (tagger, chat_id) = (app.tagger()?, &q.chat_id);
    let (etag, view) = chats::get_chat(
        store, tagger, &account, chat_id, q.limit, q.before, offered, known,
    )
    .await?;
    Ok(http::cacheable(
        &etag,
        view.map(|v| json(StatusCode::OK, &v)),
    ))
}

/// `GET /chats/list-chats[?limit=&cursor=&archived=&pinned=]` → 200 a page of conversations.
pub async fn list_chats(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let q: ListQuery = query(&request)?;
    let filter = ListFilter {
        archived: q.archived.unwrap_or(false),
        pinned: q.pinned,
    };
    let store = app.store().await?;
    let page = chats::list_chats(store, &account, filter, q.limit, q.cursor.as_deref()).await?;
    Ok(http::cacheable_json(&request, &page))
}

/// `GET /chats/list-deleted[?limit=&cursor=]` → 200 a page of the trash.
pub async fn list_deleted(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let q: TrashQuery = query(&request)?;
    let store = app.store().await?;
    ok(&chats::list_deleted(store, &account, q.limit, q.cursor.as_deref()).await?)
}

/// `PATCH /chats/update-chat?chat_id=ID {name?, archived?, pinned?}` → 200.
pub async fn update_chat(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let q: ChatQuery = query(&request)?;
    let body: ChatUpdate = requests::body(&request)?;
    let store = app.store().await?;
    ok(&chats::update_chat(store, &account, &q.chat_id, &body).await?)
}

/// `DELETE /chats/delete-chat?chat_id=ROOT` → 200 the conversation, now in the trash.
pub async fn delete_chat(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let q: ChatQuery = query(&request)?;
    let store = app.store().await?;
    let retention = app.config.trash_retention;
    ok(&chats::delete_chat(store, &account, &q.chat_id, retention).await?)
}

/// `POST /chats/restore-chat?chat_id=ROOT` → 200 the conversation, out of the trash.
pub async fn restore_chat(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let q: ChatQuery = query(&request)?;
    ok(&chats::restore_chat(app.store().await?, &account, &q.chat_id).await?)
}

/// `POST /messages/add-message {chat_id, question, response}` → 200 message.
pub async fn add_message(app: &App, request: Request) -> Outcome {
    // The account is confirmed by the append's own write (see `messages::add_message`).
    let account = app.token_account(&request)?;
    let body: NewMessage = requests::body(&request)?;
    let store = app.store().await?;
    let pending = match idempotency::begin(store, &account, &request, "add-message", &body).await? {
        Begin::Replay(response) => {
            app.require_account(&account).await?;
            return Ok(response);
        }
        Begin::Proceed(pending) => pending,
    };
    let (chat_id, question, response) = (&body.chat_id, &body.question, &body.response);
    let result = messages::add_message(
        store,
        &account,
        chat_id,
        question,
        response,
        pending.as_ref(),
    )
    .await;
    answer(store, result, pending).await
}

/// `GET /messages/search-messages?q=TEXT[&limit=&cursor=]` → 200 a page of hits.
pub async fn search_messages(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let q: SearchQuery = query(&request)?;
    let limit = q.limit.unwrap_or(chats::DEFAULT_LIST);
    let store = app.store().await?;
    ok(&messages::search(store, &account, &q.q, limit, q.cursor.as_deref()).await?)
}

/// `POST /branches/create-branch {parent_chat_id, message_index, name}` → 200 branch.
pub async fn create_branch(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let body: NewBranch = requests::body(&request)?;
    let store = app.store().await?;
    let pending =
        match idempotency::begin(store, &account, &request, "create-branch", &body).await? {
            Begin::Replay(response) => return Ok(response),
            Begin::Proceed(pending) => pending,
        };
    let (parent, index, name) = (&body.parent_chat_id, body.message_index, &body.name);
    let config = &app.config;
    let result = branches::create_branch(
        store,
        config,
        &account,
        parent,
        index,
        name,
        pending.as_ref(),
    )
    .await;
    answer(store, result, pending).await
}

/// `GET /branches/get-branches?chat_id=ID` → 200 the direct branches of ID, oldest first.
pub async fn get_branches(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let q: ChatQuery = query(&request)?;
    ok(&branches::get_branches(app.store().await?, &account, &q.chat_id).await?)
}

/// `PUT /branches/set-active-branch?chat_id=ID [{branch_id}]` → 200. Without a body (or
/// without `branch_id`), ID itself becomes active, as in the original service.
pub async fn set_active_branch(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let q: ChatQuery = query(&request)?;
    let body: ActiveBranch = requests::optional_body(&request)?;
    let store = app.store().await?;
    let branch_id = body.branch_id.as_deref();
    ok(&branches::set_active_branch(store, &account, &q.chat_id, branch_id).await?)
}

/// `GET /chats/get-tree?chat_id=ANY_MEMBER[&limit=&cursor=]` → 200 the whole tree.
pub async fn get_tree(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let q: TreeQuery = query(&request)?;
    let store = app.store().await?;
    let tree = trees::get_tree(store, &account, &q.chat_id, q.limit, q.cursor.as_deref()).await?;
    Ok(http::cacheable_json(&request, &tree))
}

/// `POST /chats/fork-chat {chat_id, message_index?, name}` → 200 the new conversation.
pub async fn fork_chat(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let body: ForkChat = requests::body(&request)?;
    let store = app.store().await?;
    let pending = match idempotency::begin(store, &account, &request, "fork-chat", &body).await? {
        Begin::Replay(response) => return Ok(response),
        Begin::Proceed(pending) => pending,
    };
    let (config, index) = (&app.config, body.message_index);
    let result = trees::fork_chat(
        store,
        config,
        &account,
        &body.chat_id,
        index,
        &body.name,
        pending.as_ref(),
    )
    .await;
    answer(store, result, pending).await
}

/// `POST /messages/edit-message {chat_id, message_index, question, response}` → 200 the new
/// branch, now active.
pub async fn edit_message(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let body: EditMessage = requests::body(&request)?;
    let (chat, index) = (body.chat_id.as_str(), body.message_index);
    let new_pair = (Some(body.question.as_str()), body.response.as_str());
    branch_off(
        app,
        &account,
        &request,
        "edit-message",
        &body,
        chat,
        index,
        new_pair,
    )
    .await
}

/// `POST /messages/regenerate-message {chat_id, message_index, response}` → 200 the new
/// branch, now active.
pub async fn regenerate_message(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let body: Regeneration = requests::body(&request)?;
    let (chat, index) = (body.chat_id.as_str(), body.message_index);
    let new_pair = (None, body.response.as_str());
    branch_off(
        app,
        &account,
        &request,
        "regenerate-message",
        &body,
        chat,
        index,
        new_pair,
    )
    .await
}

/// Edit and regenerate: a new pair (`None`: the original question) in a new branch.
#[allow(clippy::too_many_arguments)]
async fn branch_off(
    app: &App,
    account: &str,
    request: &Request,
    endpoint: &str,
    body: &impl Serialize,
    chat: &str,
    index: i64,
    (question, response): (Option<&str>, &str),
) -> Outcome {
    let store = app.store().await?;
    let pending = match idempotency::begin(store, account, request, endpoint, body).await? {
        Begin::Replay(response) => return Ok(response),
        Begin::Proceed(pending) => pending,
    };
    let config = &app.config;
    let result = trees::edit_message(
        store,
        config,
        account,
        chat,
        index,
        question,
        response,
        pending.as_ref(),
    )
    .await;
    answer(store, result, pending).await
}

/// `DELETE /branches/delete-branch?branch_id=ID` → 200 what went to the trash.
pub async fn delete_branch(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let q: BranchQuery = query(&request)?;
    let (store, retention) = (app.store().await?, app.config.trash_retention);
    ok(&trees::delete_branch(store, &account, &q.branch_id, retention).await?)
}

/// `POST /branches/restore-branch?branch_id=ID` → 200 what came back.
pub async fn restore_branch(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let q: BranchQuery = query(&request)?;
    let store = app.store().await?;
    ok(&trees::restore_branch(store, &app.config, &account, &q.branch_id).await?)
}

/// `POST /branches/prune-branches?chat_id=ID` → 200 what went to the trash.
pub async fn prune_branches(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let q: ChatQuery = query(&request)?;
    let (store, retention) = (app.store().await?, app.config.trash_retention);
    ok(&trees::prune_branches(store, &account, &q.chat_id, retention).await?)
}

/// `POST /branches/promote-branch?branch_id=ID` → 200.
pub async fn promote_branch(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let q: BranchQuery = query(&request)?;
    let store = app.store().await?;
    ok(&trees::promote_branch(store, &app.config, &account, &q.branch_id).await?)
}

/// `GET /branches/compare-branches?a=ID&b=ID[&limit=&from=]` → 200 both sides from where
/// they diverge.
pub async fn compare_branches(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let q: CompareQuery = query(&request)?;
    let store = app.store().await?;
    ok(&trees::compare(store, &account, &q.a, &q.b, q.limit, q.from).await?)
}

/// `GET /chats/export-chat?chat_id=ANY_MEMBER` → 200 the tree in ChatGPT's export format.
pub async fn export_chat(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let q: ChatQuery = query(&request)?;
    ok(&transfers::export_chat(app.store().await?, &account, &q.chat_id).await?)
}

/// `GET /chats/export-chats[?limit=&cursor=]` → 200 a page of exported conversations.
pub async fn export_chats(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let q: ExportQuery = query(&request)?;
    let store = app.store().await?;
    ok(&transfers::export_chats(store, &account, q.limit, q.cursor.as_deref()).await?)
}

/// `POST /chats/import-chats` with a `conversations.json` array (at most 5 MiB) → 200 what
/// was created; all of it or nothing.
pub async fn import_chats(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let body = exports::parse(request.body().as_ref())?;
    let store = app.store().await?;
    let pending = match idempotency::begin(store, &account, &request, "import-chats", &body).await?
    {
        Begin::Replay(response) => return Ok(response),
        Begin::Proceed(pending) => pending,
    };
    let result =
        transfers::import_chats(store, &app.config, &account, &body, pending.as_ref()).await;
    answer(store, result, pending).await
}
