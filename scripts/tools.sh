# Sourced by the CI checks: puts pinned Python tools (cfn-lint, the SAM CLI, schemathesis,
# cargo-lambda) on PATH from a virtualenv in the cache, installing them on first use.
tools_venv=${CHAT_BACKEND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chat-backend}/tools-venv
if [ ! -x "$tools_venv/bin/schemathesis" ] || [ ! -x "$tools_venv/bin/sam" ] || [ ! -x "$tools_venv/bin/cfn-lint" ] ||
    [ ! -x "$tools_venv/bin/cargo-lambda" ]; then
    echo "installing cfn-lint, aws-sam-cli, schemathesis and cargo-lambda into $tools_venv" >&2
    python3 -m venv "$tools_venv"
    "$tools_venv/bin/pip" install --quiet --disable-pip-version-check \
        "cfn-lint==1.58.0" "aws-sam-cli==1.170.0" "schemathesis==4.32.5" "cargo-lambda==1.9.2"
fi
export PATH="$tools_venv/bin:$PATH"
