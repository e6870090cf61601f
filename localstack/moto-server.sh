#!/usr/bin/env bash
# Start moto server on 127.0.0.1:4566 (the default AWS-compatible endpoint of the local-services
# way), wait until it answers, and provision the Paystream event topology on it.
#
#   localstack/moto-server.sh            # foreground; Ctrl-C stops moto
#   MOTO_PORT=5000 localstack/moto-server.sh
#
# Run it from anywhere; it uses the project's virtual environment (.venv) when there is one.
set -euo pipefail

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MOTO_HOST="${MOTO_HOST:-127.0.0.1}"
MOTO_PORT="${MOTO_PORT:-4566}"
START_TIMEOUT_SECONDS="${MOTO_START_TIMEOUT_SECONDS:-30}"

if [[ -x "${PROJECT_ROOT}/.venv/bin/python" ]]; then
    PYTHON="${PROJECT_ROOT}/.venv/bin/python"
    MOTO_SERVER="${PROJECT_ROOT}/.venv/bin/moto_server"
else
    PYTHON="${PYTHON:-python3}"
    MOTO_SERVER="${MOTO_SERVER:-moto_server}"
fi
ENDPOINT_URL="http://${MOTO_HOST}:${MOTO_PORT}"

"${MOTO_SERVER}" -H "${MOTO_HOST}" -p "${MOTO_PORT}" &
MOTO_PID=$!
trap 'kill "${MOTO_PID}" 2>/dev/null || true' EXIT INT TERM

ready=false
for (( attempt = 0; attempt < START_TIMEOUT_SECONDS * 10; attempt++ )); do
    if ! kill -0 "${MOTO_PID}" 2>/dev/null; then
        echo "moto server exited; is port ${MOTO_PORT} taken?" >&2
        exit 1
    fi
    if "${PYTHON}" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" \
        "${ENDPOINT_URL}/moto-api/" >/dev/null 2>&1; then
        ready=true
        break
    fi
    sleep 0.1
done
if [[ "${ready}" != true ]]; then
    echo "moto server did not answer on ${ENDPOINT_URL} within ${START_TIMEOUT_SECONDS} s" >&2
    exit 1
fi

cd "${PROJECT_ROOT}"
"${PYTHON}" -m shared.provision --endpoint-url "${ENDPOINT_URL}"
echo "moto server ready on ${ENDPOINT_URL} (pid ${MOTO_PID}); Ctrl-C to stop"
wait "${MOTO_PID}"
