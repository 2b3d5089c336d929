"""The README's journey through a client generated from openapi.yaml, used exactly as generated.

scripts/check-clients.sh generates the client with openapi-python-client into a temporary
directory, puts it on PYTHONPATH and runs this against the local server:

    python clients/python/journey.py http://127.0.0.1:3000

Every id a response gives is passed on to the next request as it is (a UUID object): no
conversion by hand. Each error's `detail` is read from the parsed `Error` model.
"""

import sys
import uuid

from chat_backend_client import AuthenticatedClient, Client
from chat_backend_client.api.auth import delete_account, login, register
from chat_backend_client.api.branches import create_branch, get_branches, set_active_branch
from chat_backend_client.api.chats import create_chat, get_chat
from chat_backend_client.api.messages import add_message
from chat_backend_client.models import (
    ActiveBranch,
    AddMessageBody,
    Branch,
    Chat,
    CreateBranchBody,
    CreateChatBody,
    Credentials,
    DeleteAccountBody,
    Error,
    LoginBody,
    Message,
    NewBranch,
    SetActiveBranchBody,
    Token,
)

steps = 0


def expect(response, status, model):
    """The answer has `status` and parses as `model`; returns the parsed value."""
    global steps
    steps += 1
    assert response.status_code == status, (response.status_code, response.content)
    assert isinstance(response.parsed, model), (model, response.parsed)
    return response.parsed


def detail(response, status, starts_with):
    """An error answer: `status`, parsed as `Error`, its `detail` starting as given."""
    error = expect(response, status, Error)
    assert error.detail.startswith(starts_with), error.detail
    print(f"  {status}: {error.detail}")


def main(base_url: str) -> None:
    anonymous = Client(base_url=base_url)
    username = f"py-{uuid.uuid4().hex[:12]}"
    password = "wonderland"

    # Register, and the username is then taken.
    account = expect(
        register.sync_detailed(client=anonymous, body=Credentials(username, password)), 200, object
    )
    assert account.username == username and isinstance(account.account_id, uuid.UUID)
    detail(register.sync_detailed(client=anonymous, body=Credentials(username, password)), 409, "Username already registered")
    detail(register.sync_detailed(client=anonymous, body=Credentials("x", password)), 422, "username:")

    # Log in; a wrong password is a 401.
    detail(login.sync_detailed(client=anonymous, body=LoginBody(username, "not-the-password")), 401, "Invalid credentials")
    token = expect(login.sync_detailed(client=anonymous, body=LoginBody(username, password)), 200, Token)
    assert token.token_type == "bearer"
    client = AuthenticatedClient(base_url=base_url, token=token.access_token)

    # Without a token: 401.
    detail(create_chat.sync_detailed(client=anonymous, body=CreateChatBody(name="x")), 401, "")

    # Create a chat, and add a question/response pair with an Idempotency-Key.
    chat = expect(create_chat.sync_detailed(client=client, body=CreateChatBody(name="My first chat")), 200, Chat)
    assert chat.message_count == 0 and chat.parent_chat_id is None and chat.active
    detail(create_chat.sync_detailed(client=client, body=CreateChatBody(name="   ")), 422, "name: must not be blank")
    key = str(uuid.uuid4())
    body = AddMessageBody(chat_id=chat.chat_id, question="What is MongoDB?", response="A document database.")
    first = expect(add_message.sync_detailed(client=client, body=body, idempotency_key=key), 200, Message)
    assert first.index == 0
    again = add_message.sync_detailed(client=client, body=body, idempotency_key=key)
    assert expect(again, 200, Message).response_id == first.response_id
    assert again.headers.get("Idempotent-Replayed") == "true"
    detail(
        add_message.sync_detailed(client=client, body=AddMessageBody(chat_id=uuid.uuid4(), question="q", response="r")),
        404,
        "Chat not found",
    )

    # Read it.
    read = expect(get_chat.sync_detailed(client=client, chat_id=chat.chat_id), 200, Chat)
    assert [m.question for m in read.messages] == ["What is MongoDB?"] and read.message_count == 1

    # Branch after message 0 and add to the branch.
    branch = expect(
        create_branch.sync_detailed(
            client=client, body=CreateBranchBody(parent_chat_id=chat.chat_id, message_index=0, name="Try again")
        ),
        200,
        NewBranch,
    )
    assert branch.parent_chat_id == chat.chat_id and branch.root_chat_id == chat.chat_id
    detail(
        create_branch.sync_detailed(
            client=client, body=CreateBranchBody(parent_chat_id=chat.chat_id, message_index=5, name="Too far")
        ),
        422,
        "message_index:",
    )
    second = expect(
        add_message.sync_detailed(
            client=client, body=AddMessageBody(chat_id=branch.branch_id, question="And in one word?", response="Documents.")
        ),
        200,
        Message,
    )
    assert second.index == 1

    # List the branches, make the branch active, read it.
    branches = expect(get_branches.sync_detailed(client=client, chat_id=chat.chat_id), 200, list)
    assert [b.branch_id for b in branches] == [branch.branch_id] and all(isinstance(b, Branch) for b in branches)
    active = expect(
        set_active_branch.sync_detailed(client=client, chat_id=chat.chat_id, body=SetActiveBranchBody(branch_id=branch.branch_id)),
        200,
        ActiveBranch,
    )
    assert active.active_branch_id == branch.branch_id
    read = expect(get_chat.sync_detailed(client=client, chat_id=branch.branch_id), 200, Chat)
    assert [m.question for m in read.messages] == ["What is MongoDB?", "And in one word?"]
    assert read.active and read.parent_chat_id == chat.chat_id and read.messages[0].response_id == first.response_id
    detail(get_chat.sync_detailed(client=client, chat_id=uuid.uuid4()), 404, "Chat not found")

    # Delete the account: its token is refused from then on.
    expect(delete_account.sync_detailed(client=client, body=DeleteAccountBody(password=password)), 200, object)
    detail(get_chat.sync_detailed(client=client, chat_id=chat.chat_id), 401, "")
    print(f"python client journey: {steps} requests answered as documented")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000")
