"""CORS as a real browser sees it: headless Chromium, driven by Selenium, calls the local API
with fetch from two page origins — one in CORS_ALLOWED_ORIGINS, one not — and checks what the
browser lets each page see. Run by scripts/browser-test.sh, which starts the servers:

    cors_test.py --api http://127.0.0.1:A/api/v1 --allowed http://127.0.0.1:B \
                 --disallowed http://localhost:C --artifacts target/browser-artifacts

The server must run with LOGIN_MAX_FAILURES=2. Prints "N passed, M failed" last; exits 1 on any
failure.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
import uuid
from urllib.parse import quote

# Selenium Manager must never look for or download a browser or driver: the paths are given.
os.environ.setdefault("SE_OFFLINE", "true")
os.environ.setdefault("SE_AVOID_STATS", "true")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")

# The network is closed: everything that would phone home is off.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-default-browser-check",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    "--metrics-recording-only",
    # Even with the flags above Chromium (148 and 156 alike) still fetches from accounts.google.com,
    # www.google.com, clients2.google.com, update.googleapis.com and others: no host but the
    # loopback resolves, so not even a DNS query leaves the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    "--window-size=1280,900",
]


class Checks:
    """Records each check, prints it and shows it on the current page."""

    def __init__(self):
        self.driver = None
        self.passed = 0
        self.failed = []

    def show(self, kind, text):
        if self.driver is not None:
            try:
                self.driver.execute_script("window.show(arguments[0], arguments[1])", kind, text)
            except Exception:  # the page may not be loaded; the terminal still has it
                pass

    def info(self, text):
        print(f"  ....  {text}", flush=True)
        self.show("info", text)

    def check(self, name, ok, seen=None):
        if ok:
            self.passed += 1
            print(f"  PASS  {name}", flush=True)
            self.show("pass", name)
        else:
            detail = f"{name} — saw {json.dumps(seen, default=str)[:700]}"
            self.failed.append(detail)
            print(f"  FAIL  {detail}", flush=True)
            self.show("fail", detail)
        return ok

    def summary(self, shots):
        """Prints the screenshots kept and what failed; the exit status."""
        for shot in shots:
            print(f"screenshot: {shot}")
        if self.failed:
            print(f"\n{len(self.failed)} check(s) failed:", file=sys.stderr)
            for failure in self.failed:
                print(f"  - {failure}", file=sys.stderr)
        print(f"{self.passed} passed, {len(self.failed)} failed")
        return 1 if self.failed else 0


def start_browser(profile):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    # The console tells why the browser refused a response (preflight or missing allow-origin).
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_window_size(1280, 900)
    driver.set_script_timeout(30)
    driver.set_page_load_timeout(30)
    return driver


def call(driver, method, path, token=None, json_body=None):
    """fetch() from the page; returns what the page saw (status, headers, body) or the rejection."""
    return driver.execute_async_script(
        """
        const [method, path, token, body, done] = arguments;
        const options = {};
        if (token !== null) options.token = token;
        if (body !== null) options.json = body;
        window.call(method, path, options).then(done);
        """,
        method,
        path,
        token,
        json_body,
    )


def open_page(driver, origin, api):
    driver.get(f"{origin}/page.html?api={quote(api, safe='')}")
    if driver.execute_script("return typeof window.call") != "function":
        raise RuntimeError(f"{origin}/page.html did not load its script")


def console_errors(driver):
    return [entry["message"] for entry in driver.get_log("browser")]


def screenshot(driver, checks, artifacts, name):
    total = f"{checks.passed} passed, {len(checks.failed)} failed so far"
    driver.execute_script("window.summary(arguments[0])", total)
    path = os.path.join(artifacts, name)
    driver.save_screenshot(path)
    return path


def allowed_page(driver, checks):
    suffix = uuid.uuid4().hex[:10]
    user = f"browser_{suffix}"
    password = "correct horse battery"

    reply = call(driver, "POST", "/auth/register", json_body={"username": user, "password": password})
    checks.check(
        "register: 200 and the page reads the body",
        not reply["rejected"] and reply["status"] == 200 and reply["body"].get("username") == user,
        reply,
    )
    reply = call(driver, "POST", "/auth/login", json_body={"username": user, "password": password})
    token = None if reply["rejected"] else (reply["body"] or {}).get("access_token")
    checks.check("login: 200 with an access_token", not reply["rejected"] and reply["status"] == 200 and token, reply)
    if not token:
        raise RuntimeError("no token: the authenticated checks cannot run")

    reply = call(driver, "POST", "/chats/create-chat", token=token, json_body={"name": "From the browser"})
    chat_id = None if reply["rejected"] else (reply["body"] or {}).get("chat_id")
    checks.check("create-chat (Bearer token, JSON): 200 with a chat_id", not reply["rejected"] and reply["status"] == 200 and chat_id, reply)

    question = f"Can a page at another origin read this? {suffix}"
    reply = call(
        driver,
        "POST",
        "/messages/add-message",
        token=token,
        json_body={"chat_id": chat_id, "question": question, "response": "Yes, when its origin is allowed."},
    )
    checks.check(
        "add-message: 200 with index 0",
        not reply["rejected"] and reply["status"] == 200 and reply["body"].get("index") == 0,
        reply,
    )

    reply = call(driver, "GET", f"/chats/get-chat?chat_id={chat_id}", token=token)
    messages = [] if reply["rejected"] else (reply["body"] or {}).get("messages", [])
    checks.check(
        "get-chat: 200 and the page reads the message back",
        not reply["rejected"]
        and reply["status"] == 200
        and len(messages) == 1
        and messages[0].get("question") == question
        and messages[0].get("index") == 0,
        reply,
    )

    reply = call(driver, "GET", f"/chats/get-chat?chat_id={chat_id}", token="not-a-valid-token")
    checks.check(
        "wrong token: the page reads 401, its detail and WWW-Authenticate (exposed)",
        not reply["rejected"]
        and reply["status"] == 401
        and isinstance(reply["body"], dict)
        and reply["body"].get("detail")
        and (reply["headers"]["www-authenticate"] or "").startswith("Bearer"),
        reply,
    )

    # LOGIN_MAX_FAILURES=2: two wrong passwords use up the allowance, the third attempt is 429.
    locked = f"locked_{suffix}"
    call(driver, "POST", "/auth/register", json_body={"username": locked, "password": password})
    statuses = []
    for _ in range(3):
        reply = call(driver, "POST", "/auth/login", json_body={"username": locked, "password": "wrong password!"})
        statuses.append(None if reply["rejected"] else reply["status"])
    retry_after = None if reply["rejected"] else reply["headers"]["retry-after"]
    checks.check(
        "three bad logins: 401, 401, then a readable 429",
        statuses == [401, 401, 429] and isinstance(reply["body"], dict) and reply["body"].get("detail"),
        {"statuses": statuses, "last": reply},
    )
    checks.check(
        "429: the page reads Retry-After (exposed), a positive number of seconds",
        retry_after is not None and retry_after.isdigit() and int(retry_after) > 0,
        reply,
    )
    return user, password, chat_id


def disallowed_page(driver, checks, user, password, chat_id):
    driver.get_log("browser")  # start from an empty console
    reply = call(driver, "POST", "/auth/login", json_body={"username": user, "password": password})
    checks.check(
        "POST login (preflighted: JSON): fetch rejects with TypeError",
        reply["rejected"] and reply["error"].startswith("TypeError"),
        reply,
    )
    reply = call(driver, "GET", f"/chats/get-chat?chat_id={chat_id}")
    checks.check(
        "simple GET (no preflight): fetch rejects with TypeError",
        reply["rejected"] and reply["error"].startswith("TypeError"),
        reply,
    )
    # The browser says why: the preflight failed (403), and the GET's answer had no allow-origin.
    time.sleep(0.2)
    console = console_errors(driver)
    checks.check(
        "console: the preflight was refused",
        any("CORS policy" in m and "preflight" in m and "/auth/login" in m for m in console),
        console,
    )
    checks.check(
        "console: the GET's response had no Access-Control-Allow-Origin",
        any("CORS policy" in m and "No 'Access-Control-Allow-Origin'" in m and "/chats/get-chat" in m for m in console),
        console,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True)
    parser.add_argument("--allowed", required=True)
    parser.add_argument("--disallowed", required=True)
    parser.add_argument("--artifacts", required=True)
    args = parser.parse_args()
    os.makedirs(args.artifacts, exist_ok=True)

    checks = Checks()
    shots = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        driver = start_browser(profile)
        print(f"Chromium {driver.capabilities.get('browserVersion')}, started in {time.monotonic() - started:.1f} s", flush=True)
        try:
            user = password = chat_id = None
            print(f"allowed page {args.allowed}", flush=True)
            try:
                open_page(driver, args.allowed, args.api)
                checks.driver = driver
                checks.info(f"allowed origin {args.allowed}: every call should succeed")
                user, password, chat_id = allowed_page(driver, checks)
            except Exception as error:
                traceback.print_exc()
                checks.check(f"allowed page ran to its end ({type(error).__name__}: {error})", False)
            shots.append(screenshot(driver, checks, args.artifacts, "allowed-origin.png"))

            print(f"disallowed page {args.disallowed}", flush=True)
            try:
                checks.driver = None
                open_page(driver, args.disallowed, args.api)
                checks.driver = driver
                checks.info(f"disallowed origin {args.disallowed}: the browser must refuse every response")
                disallowed_page(driver, checks, user or "nobody", password or "nothing!", chat_id or "x")
            except Exception as error:
                traceback.print_exc()
                checks.check(f"disallowed page ran to its end ({type(error).__name__}: {error})", False)
            shots.append(screenshot(driver, checks, args.artifacts, "disallowed-origin.png"))
        finally:
            driver.quit()

    return checks.summary(shots)


if __name__ == "__main__":
    sys.exit(main())
