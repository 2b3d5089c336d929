#!/usr/bin/env python3
"""Cold start of a Lambda function binary, measured locally: process start to first response.

Plays the Lambda Runtime API (the HTTP interface the runtime polls for invocations) on
loopback, starts the function binary as Lambda would, hands it one API Gateway REST event
(get-chat with a signed token), and times until the function posts its response. Repeats with a
fresh process each time and prints the median.

    scripts/bench/cold-start.py target/release/get-chat [runs]
    scripts/bench/cold-start.py target/release/register [runs] register

Needs MONGODB_URI (scripts/mongo.sh start prints one). It creates the account its token names
in a database of its own, and drops that database afterwards.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = "cold-start-secret-cold-start-secret!"
ACCOUNT = str(uuid.uuid4())
DATABASE = f"cold_start_{ACCOUNT[:8]}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token() -> str:
    now = int(time.time())
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64url(json.dumps({"sub": ACCOUNT, "iat": now, "exp": now + 600, "iss": "chat-backend"}).encode())
    signature = hmac.new(SECRET.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64url(signature)}"


# What each measured function is sent, and the status it must answer: get-chat of a chat that
# does not exist (its token and account checked), register with an empty body (refused with 422
# before any database work).
KINDS = {"get-chat": ("GET", "/api/v1/chats/get-chat", 404), "register": ("POST", "/api/v1/auth/register", 422)}
KIND = "get-chat"


def event() -> dict:
    method, path, _ = KINDS[KIND]
    get = method == "GET"
    headers = {"Authorization": f"Bearer {token()}"} if get else {"Content-Type": "application/json"}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {"chat_id": str(uuid.uuid4())} if get else None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012", "resourceId": "r", "stage": "prod", "requestId": "cold",
            "identity": {"sourceIp": "127.0.0.1"}, "resourcePath": path, "httpMethod": method,
            "apiId": "local", "path": f"/prod{path}", "protocol": "HTTP/1.1",
        },
        "body": None if get else "{}",
        "isBase64Encoded": False,
    }


class RuntimeApi(BaseHTTPRequestHandler):
    """One invocation per process: the first poll gets the event, later polls wait."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        if server.handed_out:
            server.done.wait(30)  # the process is killed before this poll is answered
            return
        server.handed_out = True
        body = json.dumps(event()).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "cold-start-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 15000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:" + KIND)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        payload = self.rfile.read(length)
        self.send_response(202)
        self.end_headers()
        if "/response" in self.path or "/error" in self.path:
            self.server.response = (time.perf_counter(), self.path, payload)
            self.server.done.set()


def one_cold_start(binary: str) -> float:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    server.handed_out, server.response, server.done = False, None, threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(
        os.environ,
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_port}",
        AWS_LAMBDA_FUNCTION_NAME=KIND,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        JWT_SECRET=SECRET,
        MONGODB_DATABASE=DATABASE,
        RUST_LOG="warn",
    )
    env.pop("JWT_SECRET_PARAM", None)
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not server.done.wait(30):
            sys.exit("the function did not answer within 30 s")
        finished, path, payload = server.response
        if "/response" not in path or json.loads(payload)["statusCode"] != KINDS[KIND][2]:
            sys.exit(f"unexpected answer on {path}: {payload[:200]!r}")
        return (finished - started) * 1000
    finally:
        process.kill()
        process.wait()
        server.shutdown()


def database():
    """The run's own database, through the pymongo scripts/mongo.sh installs."""
    cache = os.environ.get("CHAT_BACKEND_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "chat-backend")
    sys.path.insert(0, os.path.join(cache, "pymongo"))
    from pymongo import MongoClient
    return MongoClient(os.environ["MONGODB_URI"], serverSelectionTimeoutMS=5000)[DATABASE]


def main():
    if len(sys.argv) < 2 or "MONGODB_URI" not in os.environ:
        sys.exit(__doc__)
    global KIND
    binary, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20
    KIND = sys.argv[3] if len(sys.argv) > 3 else KIND
    if KIND not in KINDS:
        sys.exit(f"the third argument is one of {', '.join(KINDS)}")
    db = database()
    # The account the token names (a token of a missing account is refused, rightly).
    now = datetime.datetime.now(datetime.timezone.utc)
    db.users.insert_one({"_id": ACCOUNT, "username": "cold-start", "password_hash": "-", "created_at": now})
    try:
        one_cold_start(binary)  # warm the page cache and create the indexes once
        samples = sorted(one_cold_start(binary) for _ in range(runs))
    finally:
        db.client.drop_database(DATABASE)
    size = os.path.getsize(binary)
    print(f"{binary}: {size / 1e6:.1f} MB; cold start to first response over {runs} runs: "
          f"median {statistics.median(samples):.1f} ms, min {samples[0]:.1f} ms, max {samples[-1]:.1f} ms")


if __name__ == "__main__":
    main()
