"""The interactive API documentation as a person uses it: headless Chromium opens /docs on the
local server, authorizes with a bearer token, and runs "Try it out" on list-chats, which must
answer 200 from the same origin. No Content-Security-Policy violation may be reported. Run by
scripts/browser-test.sh, which starts the server:

    docs_test.py --base http://127.0.0.1:A --artifacts target/browser-artifacts

Prints "N passed, M failed" last; exits 1 on any failure.
"""

import argparse
import json
import os
import sys
import tempfile
import traceback
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cors_test import start_browser  # noqa: E402  (same browser, same closed-network flags)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def post(url, body):
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def token_for_new_user(base):
    user = {"username": f"docs_{uuid.uuid4().hex[:10]}", "password": "docs-password"}
    post(f"{base}/api/v1/auth/register", user)
    return post(f"{base}/api/v1/auth/login", user)["access_token"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--artifacts", required=True)
    args = parser.parse_args()
    passed, failed = 0, []

    def check(name, ok, seen=None):
        nonlocal passed
        if ok:
            passed += 1
            print(f"  PASS  {name}", flush=True)
        else:
            failed.append(f"{name}: {seen!r}")
            print(f"  FAIL  {name}: {seen!r}", flush=True)

    token = token_for_new_user(args.base)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        driver = start_browser(profile)
        wait = WebDriverWait(driver, 30)
        try:
            driver.get(f"{args.base}/docs")
            operation = wait.until(EC.presence_of_element_located((By.ID, "operations-chats-listChats")))
            check("/docs shows every operation of openapi.yaml", len(driver.find_elements(By.CSS_SELECTOR, ".opblock")) == 27)

            driver.find_element(By.CSS_SELECTOR, "button.authorize").click()
            field = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".auth-container input")))
            field.send_keys(token)
            driver.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper button.authorize").click()
            wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, ".auth-btn-wrapper button.btn-done"))).click()
            check("authorized with the bearer token", "locked" in driver.find_element(By.CSS_SELECTOR, "button.authorize").get_attribute("class"))

            operation.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
            wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "#operations-chats-listChats .try-out__btn"))).click()
            wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "#operations-chats-listChats button.execute"))).click()
            status = wait.until(
                EC.visibility_of_element_located((By.CSS_SELECTOR, "#operations-chats-listChats .live-responses-table tr.response .response-col_status"))
            )
            check("Try it out: list-chats answers 200", status.text.strip().startswith("200"), status.text)
            url = driver.find_element(By.CSS_SELECTOR, "#operations-chats-listChats .request-url pre").text
            check("the call went to the same origin", url.startswith(f"{args.base}/api/v1/chats/list-chats"), url)
            body = driver.find_element(By.CSS_SELECTOR, "#operations-chats-listChats .live-responses-table .response-col_description pre").text
            check("the answer is the new user's empty list", json.loads(body) == {"items": [], "next_cursor": None}, body)

            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", status)
            shot = os.path.join(args.artifacts, "docs-try-it-out.png")
            driver.save_screenshot(shot)
            print(f"screenshot: {shot}")
            problems = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE" or "Content Security Policy" in e["message"]]
            check("no console errors or CSP violations", not problems, problems)
        except Exception as error:
            traceback.print_exc()
            check(f"the docs page ran to its end ({type(error).__name__}: {error})", False)
            driver.save_screenshot(os.path.join(args.artifacts, "docs-failure.png"))
        finally:
            driver.quit()

    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
