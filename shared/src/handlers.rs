//! One function per endpoint, each the same short path: parse → authenticate → domain → respond.
//! Errors are returned as `ApiError`; `routes::Endpoint::handle` turns them into responses.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::accounts;
use crate::app::App;
use crate::chats;
use crate::error::ApiError;
use crate::http::{JsonBody, json, query_param};

pub type Outcome = Result<Response<Body>, ApiError>;

/// `POST /auth/register {username, password}` → 200 account.
pub async fn register(app: &App, request: Request) -> Outcome {
    let body = JsonBody::parse(&request)?;
    let (username, password) = (body.string("username")?, body.string("password")?);
    let account = accounts::register(app.store().await?, username, password).await?;
    Ok(json(StatusCode::OK, &account))
}

/// `POST /auth/login {username, password}` → 200 bearer token.
pub async fn login(app: &App, request: Request) -> Outcome {
    let body = JsonBody::parse(&request)?;
    let (username, password) = (body.string("username")?, body.string("password")?);
    let token = accounts::login(
        app.store().await?,
        app.tokens()?,
        &app.config,
        username,
        password,
    )
    .await?;
    Ok(json(StatusCode::OK, &token))
}

/// `POST /chats/create-chat {name}` → 200 chat.
pub async fn create_chat(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let body = JsonBody::parse(&request)?;
    let chat = chats::create_chat(app.store().await?, &account, body.string("name")?).await?;
    Ok(json(StatusCode::OK, &chat))
}

/// `GET /chats/get-chat?chat_id=ID` → 200 chat with its visible messages and direct branches.
pub async fn get_chat(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let chat_id = query_param(&request, "chat_id")?;
    let chat = chats::get_chat(app.store().await?, &account, &chat_id).await?;
    Ok(json(StatusCode::OK, &chat))
}

/// `POST /messages/add-message {chat_id, question, response}` → 200 message.
pub async fn add_message(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let body = JsonBody::parse(&request)?;
    let (chat_id, question, response) = (
        body.string("chat_id")?,
        body.string("question")?,
        body.string("response")?,
    );
    let message =
        chats::add_message(app.store().await?, &account, chat_id, question, response).await?;
    Ok(json(StatusCode::OK, &message))
}

/// `POST /branches/create-branch {parent_chat_id, message_index, name}` → 200 branch.
pub async fn create_branch(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let body = JsonBody::parse(&request)?;
    let (parent_chat_id, message_index, name) = (
        body.string("parent_chat_id")?,
        body.integer("message_index")?,
        body.string("name")?,
    );
    let branch = chats::create_branch(
        app.store().await?,
        &account,
        parent_chat_id,
        message_index,
        name,
    )
    .await?;
    Ok(json(StatusCode::OK, &branch))
}

/// `GET /branches/get-branches?chat_id=ID` → 200 the direct branches of ID, oldest first.
pub async fn get_branches(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let chat_id = query_param(&request, "chat_id")?;
    let branches = chats::get_branches(app.store().await?, &account, &chat_id).await?;
    Ok(json(StatusCode::OK, &branches))
}

/// `PUT /branches/set-active-branch?chat_id=ID [{branch_id}]` → 200. Without a body (or
/// without `branch_id`), ID itself becomes active, as in the original service.
pub async fn set_active_branch(app: &App, request: Request) -> Outcome {
    let account = app.authenticate(&request).await?;
    let chat_id = query_param(&request, "chat_id")?;
    let body = JsonBody::parse_optional(&request)?;
    let branch_id = match &body {
        Some(body) => body.optional_string("branch_id")?,
        None => None,
    };
    let active =
        chats::set_active_branch(app.store().await?, &account, &chat_id, branch_id).await?;
    Ok(json(StatusCode::OK, &active))
}
