#!/usr/bin/env bash
# LocalStack runs every executable script in /etc/localstack/init/ready.d once it is ready.
# This one provisions the Paystream event topology (idempotent: safe on every start).
#
# Mount the project at $PAYSTREAM_HOME (default /opt/paystream) and this folder's init/ at
# /etc/localstack/init; see localstack/README.md.
set -euo pipefail

PAYSTREAM_HOME="${PAYSTREAM_HOME:-/opt/paystream}"
# The provisioning needs only boto3. LocalStack's image keeps boto3 in its own virtual
# environment, so prefer that interpreter when no other is named.
LOCALSTACK_PYTHON=/opt/code/localstack/.venv/bin/python
if [[ -z "${PAYSTREAM_PYTHON:-}" ]]; then
    if [[ -x "${LOCALSTACK_PYTHON}" ]]; then
        PAYSTREAM_PYTHON="${LOCALSTACK_PYTHON}"
    else
        PAYSTREAM_PYTHON=python3
    fi
fi
ENDPOINT_URL="${PAYSTREAM_AWS_ENDPOINT_URL:-http://localhost:4566}"

if [[ ! -f "${PAYSTREAM_HOME}/shared/provision.py" ]]; then
    echo "paystream: project not found at ${PAYSTREAM_HOME}; mount it there or set PAYSTREAM_HOME" >&2
    exit 1
fi

# LocalStack accepts any credentials; set dummy ones unless the container has some.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

cd "${PAYSTREAM_HOME}"
PYTHONPATH="${PAYSTREAM_HOME}${PYTHONPATH:+:${PYTHONPATH}}" \
    "${PAYSTREAM_PYTHON}" -m shared.provision --endpoint-url "${ENDPOINT_URL}" --region "${AWS_DEFAULT_REGION}"
