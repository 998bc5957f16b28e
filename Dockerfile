# syntax=docker/dockerfile:1
#
# proxgit images. Two targets:
#   runtime (the default)  the package and its runtime dependencies only, git
#                          and ssh-keygen for approval-signature checks, a
#                          non-root user; runs `proxgit watch`. No test or demo
#                          dependency: fakepve is AGPL-3.0 and stays out, so
#                          `proxgit demo` here says how to get it and exits 1.
#   demo                   runtime plus the `demo` extra (fakepve); runs
#                          `proxgit demo`. Published as :X.Y.Z-demo.
#
#   docker build --build-arg VERSION=0.1.0 -t proxgit:0.1.0 .
#   docker build --build-arg VERSION=0.1.0 --target demo -t proxgit:0.1.0-demo .
#   docker run --rm proxgit:0.1.0 --version
#   docker run --rm proxgit:0.1.0-demo
#
# The build context has no Git metadata, so VERSION names the version
# (setuptools-scm's SETUPTOOLS_SCM_PRETEND_VERSION); the release workflow
# passes the tag's. PYTHON_IMAGE is any Debian-based image with python3,
# venv and a `python` command (tests/test_image_build.py builds on one made
# with debootstrap).
#
# scripts/check-image-build.sh runs these build steps as shell in a temp
# prefix, for machines without a container engine; keep the two in step.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: the proxgit wheel -----------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ARG VERSION=0.1.dev0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    SETUPTOOLS_SCM_PRETEND_VERSION=${VERSION}

WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY controller ./controller
COPY example-repo ./example-repo
RUN python -m venv /opt/build \
    && /opt/build/bin/pip wheel --no-deps --wheel-dir /wheels .

# --- runtime: a venv with the wheel ----------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG VERSION=0.1.dev0
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

# --- demo: runtime plus the demo extra (fakepve, AGPL-3.0; never in runtime) -----------
FROM runtime AS demo
USER 0:0
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    wheel="$(echo /wheels/proxgit-*.whl)" \
    && "$VIRTUAL_ENV/bin/pip" install "${wheel}[demo]" \
    && "$VIRTUAL_ENV/bin/pip" check
USER 10001:10001
HEALTHCHECK NONE
CMD ["demo"]

# --- the default target is the runtime image -------------------------------------------
FROM runtime
