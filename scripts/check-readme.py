#!/usr/bin/env python3
"""Runs the README's examples against a live server and checks what they answer.

    scripts/check-readme.py API_BASE_URL [README.md]

Every ```sh block of the "Try it" section and of the "API" section's subsections runs, in
document order, in one bash session (so variables such as TOKEN and CHAT carry over from block
to block) with API set to API_BASE_URL, in a temporary directory. A block right after an
`<!-- not run: why -->` comment is skipped. Each curl call is checked against the README's own
words next to it:

- status: a comment line's "(NNN)" figures are the statuses of the curl calls after it, in
  order ("List a chat's branches (200), make the branch the active one (200)"); a call with no
  figure left to take must answer 200, as every success here does;
- shape: a comment line `# {…}` or `# […]` right after a call is the answer's shape: every key
  it shows must be in the answer, recursively (the first element stands for a list; `…` stands
  for what the README leaves out). Other comment lines (`# etag: …`) are prose.

Any failed check, or a block that exits non-zero, fails the run with the block's line number.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

SECTIONS = ("Try it", "API")
README_API = "http://127.0.0.1:3000/api/v1"

# Records each curl call's status and body (the body is also printed, so pipelines and
# command substitutions see it), one JSON line per call, in $CALLS.
CURL_WRAPPER = r"""
curl() {
    local body status
    body=$(mktemp)
    status=$(command curl -o "$body" -w '%{http_code}' "$@") || true
    python3 -c 'import json, sys; print(json.dumps({"status": int(sys.argv[1]), "body": open(sys.argv[2], encoding="utf-8", errors="replace").read()}))' \
        "$status" "$body" >>"$CALLS"
    cat "$body"
    rm -f "$body"
}
"""


def blocks(readme):
    """(line number, code) of each ```sh block to run."""
    section, skip, found = None, False, []
    lines = readme.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:].strip()
        if line.startswith("<!-- not run"):
            skip = True
        elif line.startswith("```sh"):
            start = i + 1
            i += 1
            while not lines[i].startswith("```"):
                i += 1
            if section in SECTIONS and not skip:
                found.append((start + 1, "\n".join(lines[start:i])))
            skip = False
        elif line.strip():
            skip = skip and line.startswith("<!--")
        i += 1
    return found


def expectations(code):
    """The curl calls of a block in order: (status expected, shape or None)."""
    calls, pending = [], []
    lines = code.splitlines()
    for n, line in enumerate(lines):
        text = line.strip()
        if text.startswith("#"):
            if text.startswith(("# {", "# [")) and calls and calls[-1][1] is None and after_call(lines, n):
                calls[-1] = (calls[-1][0], parse_shape(text[2:]))
            else:
                pending += [int(s) for s in re.findall(r"\((\d{3})\)", text)]
            continue
        for _ in re.finditer(r"(?:^|[\s($|])curl\s", text):
            calls.append((pending.pop(0) if pending else 200, None))
    return calls


def after_call(lines, n):
    """Whether line n directly follows a command (not another comment)."""
    return n > 0 and not lines[n - 1].strip().startswith("#")


def parse_shape(text):
    """The README's abbreviated JSON as a value: `…` stands for what is left out."""
    text = re.sub(r"\[…[^\]]*\]", "[]", text)  # [… 50 …]
    text = text.replace("{…}", "{}")
    text = re.sub(r"…\s*,", "", text)  # {…, "a": 1}
    text = re.sub(r",\s*…", "", text)  # {"a": 1, …}
    return json.loads(text)


def missing(shape, answer, path="$"):
    """What the shape shows that the answer lacks."""
    if isinstance(shape, dict):
        if not isinstance(answer, dict):
            return [f"{path} is not an object"]
        problems = []
        for key, value in shape.items():
            if key not in answer:
                problems.append(f"{path}.{key} is missing")
            else:
                problems += missing(value, answer[key], f"{path}.{key}")
        return problems
    if isinstance(shape, list):
        if not isinstance(answer, list):
            return [f"{path} is not a list"]
        if shape and not answer:
            return [f"{path} is empty"]
        return missing(shape[0], answer[0], f"{path}[0]") if shape else []
    return []


def main():
    api = sys.argv[1]
    readme_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "README.md")
    with open(readme_path, encoding="utf-8") as f:
        found = blocks(f.read())
    failures, checked = [], 0
    workdir = tempfile.mkdtemp(prefix="readme-")
    calls_path = os.path.join(workdir, "calls.jsonl")
    script = ["set -eo pipefail", f"API={api}", f"export CALLS={calls_path}", CURL_WRAPPER]
    for line, code in found:
        # Each block's calls are checked after it runs; a marker separates the blocks.
        script += [f"echo '{{\"block\": {line}}}' >>\"$CALLS\"", code.replace(README_API, api)]
    result = subprocess.run(["bash", "-c", "\n".join(script)], cwd=workdir, capture_output=True, text=True)
    records = [json.loads(l) for l in open(calls_path, encoding="utf-8")] if os.path.exists(calls_path) else []
    by_block, current = {}, None
    for record in records:
        if "block" in record:
            current = record["block"]
            by_block[current] = []
        else:
            by_block[current].append(record)
    for line, code in found:
        if line not in by_block:
            failures.append(f"README.md:{line}: not reached")
            continue
        expected, got = expectations(code), by_block[line]
        if len(got) != len(expected):
            failures.append(f"README.md:{line}: {len(got)} curl calls ran, the block shows {len(expected)}")
        for i, ((status, shape), call) in enumerate(zip(expected, got)):
            checked += 1
            where = f"README.md:{line}: call {i + 1}"
            if call["status"] != status:
                failures.append(f"{where}: status {call['status']}, README says {status}: {call['body'][:200]}")
            elif shape is not None:
                try:
                    answer = json.loads(call["body"])
                except ValueError:
                    failures.append(f"{where}: answer is not JSON: {call['body'][:200]}")
                    continue
                failures += [f"{where}: {p}" for p in missing(shape, answer)]
    if result.returncode != 0:
        failures.append(f"the examples stopped (exit {result.returncode}): {result.stderr.strip()[-500:]}")
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"README examples: {len(found)} blocks, {checked} calls checked, {len(failures)} problems", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
