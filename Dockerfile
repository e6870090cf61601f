# One image for every Paystream function. The function is chosen at run time by
# FUNCTION_TARGET, FUNCTION_SOURCE and FUNCTION_SIGNATURE_TYPE (the Knative Service sets them),
# and served by the functions-framework CLI, which reads those variables and PORT.
#
#   docker build -t paystream:0.1.0 .
#   docker run -p 8080:8080 -e FUNCTION_TARGET=users -e FUNCTION_SOURCE=functions/users/main.py \
#     -e FUNCTION_SIGNATURE_TYPE=http -e PAYSTREAM_SECRET_KEY=... paystream:0.1.0

ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: compile wheels for the project and every dependency ---------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# A compiler only for the rare dependency without a wheel for this platform; it never reaches
# the runtime stage.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY schemas ./schemas
COPY events ./events
RUN pip wheel --wheel-dir /wheels .

# Amazon's RDS CA bundle: on EKS the functions check the database server's certificate and host
# name against it (PAYSTREAM_DATABASE_TLS=verify-full, PAYSTREAM_DATABASE_CA_FILE; see
# knative/overlays/eks and docs/deploy.md).
ARG RDS_CA_BUNDLE_URL=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
RUN python -c "import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])" \
    "$RDS_CA_BUNDLE_URL" /rds-global-bundle.pem \
    && grep -q "BEGIN CERTIFICATE" /rds-global-bundle.pem

# ---- runtime: the wheels, the function sources, a non-root user ------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Installed from the builder's wheels only (--no-index): the runtime stage never compiles.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels paystream

RUN groupadd --system --gid 10001 paystream \
    && useradd --system --uid 10001 --gid paystream --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin paystream

COPY --from=builder /rds-global-bundle.pem /etc/paystream/rds/global-bundle.pem

WORKDIR /app
# Owned by root and read-only to the runtime user: a compromised function cannot rewrite code.
COPY functions ./functions

# Knative sets PORT itself; the default serves `docker run`. WORKERS x THREADS is the number of
# requests one container serves at once and must equal the Knative Service's
# containerConcurrency (shared/deploy/render.py: WORKERS, THREADS), which sets both again.
ENV PORT=8080 \
    WORKERS=2 \
    THREADS=8 \
    FUNCTION_SIGNATURE_TYPE=http

USER 10001:10001
EXPOSE 8080

# ddtrace-run patches Flask, SQLAlchemy, botocore, Redis and requests before functions-framework
# imports them (the Knative Services set DD_SERVICE, DD_ENV, DD_AGENT_HOST and DD_PATCH_MODULES).
ENTRYPOINT ["ddtrace-run", "functions-framework"]
