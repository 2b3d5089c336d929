#!/usr/bin/env bash
# Clients generated from openapi.yaml work unmodified, and the schema is linted:
#   1. the Swagger UI files served at /docs are the pinned swagger-ui-dist's, byte for byte;
#   2. Redocly CLI lints openapi.yaml with redocly.yaml's rules (any finding fails);
#   3. against the live local server: /openapi.json is openapi.yaml, /docs answers;
#   4. openapi-python-client generates a Python client from the served /openapi.json and
#      clients/python/journey.py runs the README's journey through it, as generated;
#   5. openapi-typescript generates types, clients/typescript/journey.ts (openapi-fetch) is
#      type-checked with tsc --strict and run with node.
# A schema change that breaks a generated client fails here. Tools are pinned: Python ones in a
# virtualenv in the cache, npm ones by clients/typescript/package-lock.json (npm ci). Starts a
# throwaway MongoDB unless MONGODB_URI is set.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
started=$SECONDS

cache=${CHAT_BACKEND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chat-backend}
opc_version=0.29.1
venv=$cache/clients-venv
if ! "$venv/bin/openapi-python-client" --version 2>/dev/null | grep -q "$opc_version"; then
    echo "installing openapi-python-client==$opc_version into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "openapi-python-client==$opc_version"
fi
# Its post-generation hooks run ruff, which the package brings into the virtualenv.
export PATH="$venv/bin:$PATH"
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

scripts/vendor-docs-ui.sh --check

ts=clients/typescript
npm ci --prefix "$ts" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
"$ts/node_modules/.bin/redocly" lint openapi.yaml --format=stylish

source scripts/lib/throwaway-mongo.sh
start_local_api clients

work=$(mktemp -d -t check-clients-XXXXXX)
at_exit "rm -rf '$work'"

# The served schema is openapi.yaml itself (converted at build time), and /docs is served.
curl -sf "$base/openapi.json" -o "$work/openapi.json"
node "$ts/same-schema.mjs" "$work/openapi.json" openapi.yaml
curl -sf "$base/docs" -o "$work/docs.html"
grep -q 'swagger-ui-bundle.js' "$work/docs.html"
echo "check-clients.sh: /openapi.json is openapi.yaml; /docs is served" >&2

# Python: generated from the served schema, used as generated.
(cd "$work" && openapi-python-client generate --url "$base/openapi.json" --meta none --fail-on-warning >generate.log 2>&1) ||
    { cat "$work/generate.log" >&2; exit 1; }
PYTHONPATH=$work "$venv/bin/python" clients/python/journey.py "$base"

# TypeScript: types generated, the journey type-checked strictly, then run.
rm -rf "$ts/generated" "$ts/build"
"$ts/node_modules/.bin/openapi-typescript" "$base/openapi.json" -o "$ts/generated/api.d.ts" >&2
"$ts/node_modules/.bin/tsc" -p "$ts"
node "$ts/build/journey.js" "$base"

echo "check-clients.sh: both generated clients ran the journey ($((SECONDS - started)) s)" >&2
