# syntax=docker/dockerfile:1
# cheiron's operator image: the locked dependencies (uv.lock) and cheiron, without the test
# group, run as a numeric non-root user (so runAsNonRoot can verify it).
#   docker build -t ghcr.io/anny-co/cheiron:0.1.0 .
# The base is pinned to an exact release; pin its digest too when the registry is reachable:
#   FROM python:3.11.14-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# The uv of the Makefile (UV_VERSION), from PyPI like hack/bootstrap.sh.
RUN pip install --no-cache-dir --disable-pip-version-check uv==0.13.8
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies before sources, so that a change to cheiron/ rebuilds only the last layer.
COPY pyproject.toml uv.lock README.md ./
# --no-dev alone would still install the test group (tool.uv default-groups).
RUN uv sync --frozen --no-dev --no-default-groups --no-install-project
COPY cheiron ./cheiron
RUN uv sync --frozen --no-dev --no-default-groups --no-editable

FROM ${PYTHON_IMAGE}
# skopeo copies images for ClusterImageBackup (cheiron/sources/skopeo.py): bookworm's 1.9.3,
# the release the tests run (hack/registry/ensure-tools.sh installs the same package).
RUN apt-get update \
    && apt-get install -y --no-install-recommends skopeo \
    && rm -rf /var/lib/apt/lists/*
# Bytecode is compiled at build time: the root filesystem is read-only at run time.
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
# 9090: /metrics, /healthz, /readyz; 9443: the admission webhook.
EXPOSE 9090 9443
ENTRYPOINT ["cheiron"]
CMD ["run", "--all-namespaces", "--metrics-port", "9090"]
