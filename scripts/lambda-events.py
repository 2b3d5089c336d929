#!/usr/bin/env python3
"""Every function of template.yaml fed the API Gateway events SAM generates: `sam local invoke`
minus Docker.

For each function, starts its binary (the debug build) with the environment `sam local` would
give it: the template's variables (Globals and the function's own, `!Ref`s resolved to the
parameters' defaults or to the overrides given), overridden by an `--env-vars` file in SAM's
format. It plays the Lambda Runtime API on loopback, as scripts/bench/cold-start.py does, and
hands the process, one after another, events made by the generator behind
`sam local generate-event apigateway aws-proxy` for each of the function's routes: its method
and path with a body and query that reach MongoDB, the same without a token, another method (API
Gateway hands the function every method through its ANY route) and a CORS preflight. Each answer
is checked: status, `{"detail": "..."}` on errors, headers. A process that dies, reports an error
or answers anything else fails the run, with its log.

    scripts/lambda-events.py BIN_DIR ENV_VARS_JSON [Parameter=value ...]

Runs under the Python of scripts/tools.sh's virtualenv (it imports the SAM CLI and its PyYAML).
It registers an account through the register function, logs in through login, and deletes the
account through delete-account at the end. Needs nothing but the binaries and a MongoDB the
env file names.
"""

import base64
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml
from samcli.lib.generated_sample_events.events import Events

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ORIGIN = "https://app.example.com"
USERNAME = f"sam-events-{uuid.uuid4().hex[:12]}"
PASSWORD = uuid.uuid4().hex
UNKNOWN = str(uuid.uuid4())  # a chat or branch id nobody has: every lookup of it answers 404

# What each API function is asked with its own method, and the status that proves the request
# went all the way through (its query or body parsed, MongoDB asked): (query, body, status).
# Adding a function means adding its line.
REQUESTS = {
    "register": (None, {"username": USERNAME, "password": PASSWORD}, 200),
    "login": (None, {"username": USERNAME, "password": PASSWORD}, 200),
    "delete-account": (None, {"password": PASSWORD}, 200),
    "create-chat": (None, {"name": "From a SAM event"}, 200),
    "get-chat": ({"chat_id": UNKNOWN}, None, 404),
    "list-chats": ({"limit": "5"}, None, 200),
    "update-chat": ({"chat_id": UNKNOWN}, {"name": "Renamed"}, 404),
    "delete-chat": ({"chat_id": UNKNOWN}, None, 404),
    "restore-chat": ({"chat_id": UNKNOWN}, None, 404),
    "list-deleted": (None, None, 200),
    "get-tree": ({"chat_id": UNKNOWN}, None, 404),
    "fork-chat": (None, {"chat_id": UNKNOWN, "name": "Fork"}, 404),
    "export-chat": ({"chat_id": UNKNOWN}, None, 404),
    "export-chats": (None, None, 200),
    "import-chats": (None, [], 200),
    "add-message": (None, {"chat_id": UNKNOWN, "question": "Q?", "response": "A."}, 404),
    "search-messages": ({"q": "event"}, None, 200),
    "edit-message": (None, {"chat_id": UNKNOWN, "message_index": 0, "question": "Q?", "response": "A."},
                     404),
    "regenerate-message": (None, {"chat_id": UNKNOWN, "message_index": 0, "response": "A."}, 404),
    "create-branch": (None, {"parent_chat_id": UNKNOWN, "message_index": 0, "name": "B"}, 404),
    "get-branches": ({"chat_id": UNKNOWN}, None, 404),
    "set-active-branch": ({"chat_id": UNKNOWN}, {}, 404),
    "delete-branch": ({"branch_id": UNKNOWN}, None, 404),
    "restore-branch": ({"branch_id": UNKNOWN}, None, 404),
    "prune-branches": ({"chat_id": UNKNOWN}, None, 404),
    "promote-branch": ({"branch_id": UNKNOWN}, None, 404),
    "compare-branches": ({"a": UNKNOWN, "b": str(uuid.uuid4())}, None, 404),
}
WEB = "web"
EVENTS = Events()
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".json": "application/json"}


def load_template():
    """template.yaml with CloudFormation's short tags read as their long form (`!Ref X` is
    `{"Ref": "X"}`)."""

    class Loader(yaml.SafeLoader):
        pass

    def tag(loader, suffix, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", tag)
    with open(os.path.join(ROOT, "template.yaml")) as f:
        return yaml.load(f, Loader=Loader)


def functions(template):
    """(logical id, crate name, properties, [(METHOD, path)]) of every function."""
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        routes = [(e["Properties"]["Method"].upper(), e["Properties"]["Path"])
                  for e in properties["Events"].values() if e["Type"] == "Api"]
        yield logical_id, properties["CodeUri"].removeprefix("functions/"), properties, routes


def environment(template, logical_id, properties, overrides, env_file):
    """The variables `sam local` sets for a function: the template's, then the env file's
    `Parameters` (every function) and its entry under the function's logical id, which replace
    declared variables only."""
    parameters = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
    for name, value in overrides.items():
        if name not in parameters:
            sys.exit(f"no parameter {name} in template.yaml")
        parameters[name] = value
    declared = dict(template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    declared.update(properties.get("Environment", {}).get("Variables", {}))
    variables = {}
    for name, value in declared.items():
        if isinstance(value, dict):
            if list(value) != ["Ref"] or value["Ref"] not in parameters:
                sys.exit(f"{logical_id}: cannot resolve {name}: {value}")
            value = parameters[value["Ref"]]
        variables[name] = str(value)
    for scope in ("Parameters", logical_id):
        for name, value in env_file.get(scope, {}).items():
            if name not in variables:
                sys.exit(f"env file: {name} is not declared for {logical_id} in template.yaml "
                         "(sam local would ignore it)")
            variables[name] = str(value)
    return variables


def event(method, path, resource, query=None, body=None, headers=None, path_parameters=None):
    """An API Gateway REST proxy event from SAM's generator, completed the way API Gateway fills
    it for this request: the sample's fixed `foo=bar` multi-value query, `{proxy+}` path
    parameters and headers are replaced by the request's own (lambda_http reads the multi-value
    fields first)."""
    generated = json.loads(EVENTS.generate_event("apigateway", "aws-proxy", {
        "method": method,
        "path": path.lstrip("/"),
        "resource": resource,
        "body": "" if body is None else json.dumps(body),
        "querystringparameters": json.dumps(query or {}),
    }))
    generated["queryStringParameters"] = query or None
    generated["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    generated["pathParameters"] = path_parameters
    generated["stageVariables"] = None
    headers = {"Host": "0123456789.execute-api.us-east-1.amazonaws.com", "Origin": ORIGIN, **(headers or {})}
    if body is not None:
        headers["Content-Type"] = "application/json"
    generated["headers"] = headers
    generated["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    if body is None:
        generated["body"], generated["isBase64Encoded"] = None, False
    return generated


class RuntimeApi(BaseHTTPRequestHandler):
    """Hands out the events queued on the server, one per poll, and collects the answers."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        request_id, payload = self.server.events.get()
        if request_id is None:
            return  # shutting down: the process is killed before this poll is answered
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 15000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         f"arn:aws:lambda:us-east-1:123456789012:function:{self.server.name}")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        payload = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        kind = self.path.rstrip("/").rsplit("/", 1)[-1]  # response, error (invocation or init)
        self.server.answers.put((kind, self.path, payload))


class Function:
    """One function process serving invocations through our Runtime API."""

    def __init__(self, name, binary, variables, memory):
        self.name = name
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
        self.server.daemon_threads = True
        self.server.name, self.server.events, self.server.answers = name, queue.Queue(), queue.Queue()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        # Lambda's own variables, then the template's; nothing of this shell's environment.
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": ":UTC",
            "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self.server.server_port}",
            **variables,
        }
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen([binary], env=env, stdin=subprocess.DEVNULL,
                                        stdout=self.log, stderr=subprocess.STDOUT)

    def invoke(self, payload, timeout=60):
        request_id = str(uuid.uuid4())
        self.server.events.put((request_id, payload))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                kind, path, answer = self.server.answers.get(timeout=0.1)
            except queue.Empty:
                if self.process.poll() is not None:
                    raise Failure(f"exited with status {self.process.returncode} before answering")
                continue
            if kind != "response" or request_id not in path:
                raise Failure(f"posted to {path}: {answer[:500]!r}")
            return json.loads(answer)
        raise Failure(f"no answer within {timeout} s")

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self):
        self.server.events.put((None, None))
        self.process.kill()
        self.process.wait()
        self.server.shutdown()
        self.server.server_close()


class Failure(Exception):
    pass


def answer_of(response):
    """(status, lower-case headers, body text) of a function's API Gateway response."""
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers.setdefault(name.lower(), ", ".join(values))
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return response["statusCode"], headers, body


def check(label, response, status, headers_wanted=(), api=True):
    got, headers, body = answer_of(response)
    problems = []
    if got != status:
        problems.append(f"status {got}, not {status}")
    if response.get("isBase64Encoded"):
        # Every answer is text; API Gateway without binary media types would hand a client
        # the base64 itself.
        problems.append("body base64-encoded")
    if api and headers.get("access-control-allow-origin") not in ("*", ORIGIN):
        problems.append("no Access-Control-Allow-Origin for an allowed origin")
    if got >= 400:
        try:
            detail = json.loads(body)
        except ValueError:
            detail = None
        if not (isinstance(detail, dict) and list(detail) == ["detail"] and isinstance(detail["detail"], str)
                and detail["detail"]):
            problems.append('body is not {"detail": "..."}')
        if not headers.get("content-type", "").startswith("application/json"):
            problems.append(f"Content-Type {headers.get('content-type')!r} on an error")
    for name, predicate, what in headers_wanted:
        if not predicate(headers.get(name)):
            problems.append(f"{name}: {headers.get(name)!r}, expected {what}")
    if problems:
        raise Failure(f"{label}: " + "; ".join(problems) + f"; body {body[:300]!r}")
    return body


def exercise_api(function, name, routes, token):
    """The function's own route with its request, the same without a token, another method,
    and a preflight."""
    (method, path), = [(m, p) for m, p in routes if m != "ANY"]
    if "ANY" not in {m for m, _ in routes}:
        raise Failure("no ANY route: API Gateway would answer other methods and preflights itself")
    query, body, status = REQUESTS[name]
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    results = []
    if token:
        check(f"{method} without a token", function.invoke(event(method, path, path, query, body)), 401,
              [("www-authenticate", lambda v: v == "Bearer", "Bearer")])
        results.append("401")
    answer = check(f"{method} {path}", function.invoke(event(method, path, path, query, body, auth)), status,
                   [("content-type", lambda v: (v or "").startswith("application/json"), "application/json")])
    results.append(str(status))
    other = "PATCH" if method != "PATCH" else "PUT"
    check(f"{other} (another method)", function.invoke(event(other, path, path, query, body, auth)), 405,
          [("allow", lambda v: v == f"{method}, OPTIONS", f"{method}, OPTIONS")])
    preflight = {"Access-Control-Request-Method": method, "Access-Control-Request-Headers": "authorization"}
    check("OPTIONS preflight", function.invoke(event("OPTIONS", path, path, headers=preflight)), 200,
          [("access-control-allow-methods", lambda v: v is not None and method in v, f"to list {method}")])
    results += ["405", "200"]
    return answer, results


def exercise_web(function, routes, router):
    """The page at `/`, every file of the `cargo lambda watch` router through `/{file}`, and a
    file that does not exist."""
    results = []
    for method, resource in routes:
        if resource == "/":
            paths = ["/"]
        elif resource == "/{file}":
            paths = [p for p, targets in router.items() if p != "/" and any(t["function"] == WEB for t in targets)]
            paths.append("/no-such-file.txt")
        else:
            raise Failure(f"unexpected route {method} {resource}")
        for path in paths:
            parameters = {"file": path[1:]} if resource == "/{file}" else None
            answer = function.invoke(event(method, path, resource, path_parameters=parameters))
            if path == "/no-such-file.txt":
                check(f"GET {path}", answer, 404, api=False)
                results.append("404")
                continue
            kind = CONTENT_TYPES.get(os.path.splitext(path)[1], "text/html")
            check(f"GET {path}", answer, 200, [
                ("content-type", lambda v, k=kind: v is not None and v.startswith(k), kind),
                ("content-security-policy", lambda v: bool(v), "a policy"),
                ("etag", lambda v: bool(v), "a tag"),
            ], api=False)
            results.append("200")
    return results


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    bin_dir, env_path = sys.argv[1], sys.argv[2]
    overrides = dict(arg.split("=", 1) for arg in sys.argv[3:])
    with open(env_path) as f:
        env_file = json.load(f)
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        router = tomllib.load(f)["workspace"]["metadata"]["lambda"]["watch"]["router"]
    template = load_template()
    memory_default = template.get("Globals", {}).get("Function", {}).get("MemorySize", 128)
    specs = {}
    for logical_id, name, properties, routes in functions(template):
        if name != WEB and name not in REQUESTS:
            sys.exit(f"{name}: add the request it is asked with to REQUESTS in {sys.argv[0]}")
        variables = environment(template, logical_id, properties, overrides, env_file)
        specs[name] = (os.path.join(bin_dir, name), variables, properties.get("MemorySize", memory_default), routes)

    failed = []
    lock = threading.Lock()

    def run(name, token=None):
        binary, variables, memory, routes = specs[name]
        started = time.monotonic()
        function = Function(name, binary, variables, memory)
        try:
            if name == WEB:
                answer, results = None, exercise_web(function, routes, router)
            else:
                answer, results = exercise_api(function, name, routes, token)
            with lock:
                print(f"  {name:<20} {' '.join(results):<20} {time.monotonic() - started:5.1f} s", flush=True)
            return answer
        except Failure as failure:
            with lock:
                failed.append(name)
                print(f"  {name:<20} FAILED: {failure}\n--- its output:\n{function.output()[-4000:]}---",
                      file=sys.stderr, flush=True)
            return None
        finally:
            function.stop()

    print(f"SAM events for {len(specs)} functions (statuses in order; 401 without a token, "
          "405 another method, 200 the preflight):", flush=True)
    # The account the others use: registered and logged in through the functions themselves.
    run("register")
    login = run("login")
    token = json.loads(login)["access_token"] if login else "no-token"
    rest = [name for name in specs if name not in ("register", "login", "delete-account")]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda name: run(name, token), rest))
    run("delete-account", token)
    if failed:
        sys.exit(f"{len(failed)} of {len(specs)} functions misbehaved: {', '.join(failed)}")


if __name__ == "__main__":
    main()
