#!/usr/bin/env bash
# Validates template.yaml the way CloudFormation and SAM would, without an AWS account:
# cfn-lint, then `sam validate --lint` (dummy credentials and a region are enough).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh

cfn-lint template.yaml
AWS_ACCESS_KEY_ID=none AWS_SECRET_ACCESS_KEY=none AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0 \
    sam validate --lint --template template.yaml
