#!/usr/bin/env bash
# Write the hash-pinned requirements lock that the CI examples install with
#   python -m pip install --require-hashes --no-deps -r ci/requirements.txt
# proxgit==VERSION and every runtime dependency, each with the sha256 of every
# file the package index serves for it, resolved for Python 3.12 on Linux (the
# examples' interpreter).
#
# Usage: scripts/lock-ci-requirements.sh VERSION OUT [FIND_LINKS]
#   FIND_LINKS  a directory with proxgit's own sdist and wheel, for a version
#               not (yet) on the index; the release workflow passes dist/.
#   UNRELEASED=1  leave proxgit's own line without hashes: `pip install
#               --require-hashes` then refuses it until the release's lock
#               replaces this file (what example-repo/ci/ holds before 0.1.0).
set -euo pipefail
VERSION="${1:?usage: lock-ci-requirements.sh VERSION OUT [FIND_LINKS]}"
OUT="${2:?usage: lock-ci-requirements.sh VERSION OUT [FIND_LINKS]}"
FIND_LINKS="${3:-}"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check pip-tools==7.6.2
echo "proxgit==${VERSION}" >"$WORK/requirements.in"
links=()
[ -z "$FIND_LINKS" ] || links=(--find-links "$FIND_LINKS" --no-emit-find-links)
(cd "$WORK" && "$WORK/venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe \
  --strip-extras --no-emit-index-url --no-header "${links[@]}" \
  --output-file requirements.txt requirements.in)
{
  echo "# proxgit ${VERSION} and every dependency, each with the sha256 of its files."
  echo "# Install with: python -m pip install --require-hashes --no-deps -r ci/requirements.txt"
  echo "# Made by proxgit's scripts/lock-ci-requirements.sh; every release attaches"
  echo "# requirements-X.Y.Z.txt, the same file for that version: replace this one with it"
  echo "# to upgrade."
  if [ "${UNRELEASED:-0}" = 1 ]; then
    echo "# proxgit ${VERSION} is not released yet, so its line has no hash and pip refuses"
    echo "# it: see README.md, 'Before the first release'."
    # Drop the hash lines under proxgit==VERSION (they are of a local build).
    awk -v pin="proxgit==${VERSION}" '
      $1 == pin { print pin; skip = 1; next }
      skip && /^ +--hash/ { next }
      { skip = 0; print }
    ' "$WORK/requirements.txt"
  else
    cat "$WORK/requirements.txt"
  fi
} >"$OUT"
echo "lock: $(grep -c '==' "$OUT") requirements, $(grep -c -- '--hash=sha256:' "$OUT") hashes -> $OUT"
