# syntax=docker/dockerfile:1
#
# proxgit watch-mode image: the package and its runtime dependencies only (no
# test or demo dependencies: fakepve is AGPL-3.0 and never ships), git and
# ssh-keygen for approval-signature checks, a non-root user.
#
#   docker build -t proxgit:0.1.0 .
#   docker run --rm proxgit:0.1.0 --version
#
# scripts/check-image-build.sh runs these build steps as shell in a temp
# prefix, for machines without a Docker engine; keep the two in step.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: the proxgit wheel -----------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY controller ./controller
RUN python -m pip wheel --no-deps --wheel-dir /wheels .

# --- final: a venv with the wheel, on python:3.11-slim ------------------------------
FROM ${PYTHON_IMAGE}

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="proxgit" \
      org.opencontainers.image.description="GitOps controller for Proxmox VE: plans on pull requests, applies on merge, four-eyes deletions, live state committed back to Git." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

# git: clone, fetch, commit, push and `git verify-commit`; openssh-client: ssh
# remotes and `ssh-keygen -Y verify` for SSH-signed approval commits.
# Debian point releases replace package versions, so they are not pinned here;
# the base image tag pins the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/proxgit \
    PATH=/opt/proxgit/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HOME=/home/proxgit \
    PROXGIT_HEALTHZ_URL=http://127.0.0.1:8080/healthz

# The wheel comes in through a bind mount, so it leaves no layer behind.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv "$VIRTUAL_ENV" \
    && "$VIRTUAL_ENV/bin/pip" install /wheels/proxgit-*.whl \
    && "$VIRTUAL_ENV/bin/pip" check \
    && groupadd --gid 10001 proxgit \
    && useradd --uid 10001 --gid 10001 --home-dir /home/proxgit --create-home \
        --shell /usr/sbin/nologin proxgit \
    && install -d -o 10001 -g 10001 /var/lib/proxgit

USER 10001:10001
WORKDIR /var/lib/proxgit
EXPOSE 8080

# No curl in the image: Python asks /healthz. Set PROXGIT_HEALTHZ_URL when
# --listen moves the endpoints off port 8080.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('PROXGIT_HEALTHZ_URL', 'http://127.0.0.1:8080/healthz'), timeout=4)"]

ENTRYPOINT ["proxgit"]
CMD ["watch"]
