#!/usr/bin/env bash
# Build the release artefacts and try them as a user would.
#
#   1. `python -m build`: an sdist and a wheel, versioned from Git tags
#      (setuptools-scm; 0.1.devN+gHASH before the first tag);
#   2. the wheel holds the package, its py.typed and the example repository
#      (dotfiles included), the sdist holds example-repo/ and schemas/;
#   3. a fresh venv with only that wheel and its runtime dependencies:
#      `proxgit --version` names the wheel's version, `proxgit validate` passes
#      on the example repository and on a `proxgit init` starter, `proxgit demo` without fakepve says how to get
#      it (one line, exit 1, no traceback);
#   4. the same venv plus the `demo` extra (fakepve): `proxgit demo` runs the
#      whole story from the installed package, in a directory far from the source.
#
# Usage: scripts/check-wheel.sh [OUTDIR]   (OUTDIR keeps dist/; default a temp dir)
#        CHECK_WHEEL_DIST=dist scripts/check-wheel.sh
#                                          (skip step 1: check the artefacts already in dist/,
#                                          as the release workflow does with what it publishes)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/proxgit-wheel.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
DIST="${1:-$WORK/dist}"
mkdir -p "$DIST"

say() { printf 'check-wheel: %s\n' "$*"; }
fail() { printf 'check-wheel: FAILED: %s\n' "$*" >&2; exit 1; }
quiet_pip() { "$1/bin/pip" install --quiet --disable-pip-version-check "${@:2}" >"$WORK/pip.log" 2>&1 \
  || { cat "$WORK/pip.log" >&2; fail "pip install ${*:2}"; }; }

# --- 1. build -------------------------------------------------------------------------
"$PYTHON" -m venv "$WORK/tools"
if [ -n "${CHECK_WHEEL_DIST:-}" ]; then
  DIST="$(cd "$CHECK_WHEEL_DIST" && pwd)"
else
  quiet_pip "$WORK/tools" build
  rm -f "$DIST"/proxgit-*
  (cd "$ROOT" && "$WORK/tools/bin/python" -m build --outdir "$DIST" . >"$WORK/build.log" 2>&1) \
    || { tail -40 "$WORK/build.log" >&2; fail "python -m build"; }
fi
wheels=("$DIST"/proxgit-*.whl)
sdists=("$DIST"/proxgit-*.tar.gz)
[ "${#wheels[@]}" -eq 1 ] && [ -f "${wheels[0]}" ] || fail "expected one wheel in $DIST"
[ "${#sdists[@]}" -eq 1 ] && [ -f "${sdists[0]}" ] || fail "expected one sdist in $DIST"
WHEEL="${wheels[0]}"
VERSION="$(basename "$WHEEL" | cut -d- -f2)"
say "built $(basename "$WHEEL") and $(basename "${sdists[0]}")"

# --- 2. what the artefacts hold -------------------------------------------------------
"$WORK/tools/bin/python" - "$WHEEL" "${sdists[0]}" "$ROOT/example-repo" <<'PY'
import sys, tarfile, zipfile
from pathlib import Path

wheel, sdist, example = sys.argv[1], sys.argv[2], Path(sys.argv[3])
names = set(zipfile.ZipFile(wheel).namelist())
problems = []
for needed in ("proxgit/py.typed", "proxgit/cli/__init__.py", "proxgit/cli/demo.py"):
    if needed not in names:
        problems.append(f"wheel lacks {needed}")
tracked = [
    p.relative_to(example).as_posix()
    for p in example.rglob("*")
    if p.is_file() and "__pycache__" not in p.parts
]
for rel in tracked:
    if f"proxgit/example_repo/{rel}" not in names:
        problems.append(f"wheel lacks example_repo/{rel}")
if any(n.startswith(("tests/", "bench/", "example-repo/")) for n in names):
    problems.append("wheel ships tests, bench or a top-level example-repo")
members = tarfile.open(sdist).getnames()
root = members[0].split("/")[0]
for needed in ("example-repo/proxgit.yaml", "example-repo/.gitlab-ci.yml", "schemas/config.schema.json",
               "setup.py", "pyproject.toml", "controller/proxgit/cli/__init__.py"):
    if f"{root}/{needed}" not in members:
        problems.append(f"sdist lacks {needed}")
if problems:
    sys.exit("check-wheel: FAILED: " + "; ".join(problems[:10]))
print(f"check-wheel: wheel: {len(names)} files, example repository {len(tracked)} files; "
      f"sdist: {len(members)} entries")
PY

# --- 3. a clean venv with only the wheel -----------------------------------------------
VENV="$WORK/venv"
"$PYTHON" -m venv "$VENV"
quiet_pip "$VENV" "$WHEEL"
"$VENV/bin/pip" check --disable-pip-version-check >/dev/null || fail "pip check"
AWAY="$WORK/elsewhere"  # nowhere near the source tree
mkdir -p "$AWAY"
cd "$AWAY"
said="$("$VENV/bin/proxgit" --version)"
[ "$said" = "proxgit, version $VERSION" ] || fail "proxgit --version said '$said', the wheel is $VERSION"
say "proxgit --version: $said"
"$VENV/bin/proxgit" validate "$ROOT/example-repo" >"$WORK/validate.log" 2>&1 \
  || { cat "$WORK/validate.log" >&2; fail "proxgit validate example-repo"; }
say "proxgit validate example-repo: $(tail -1 "$WORK/validate.log")"
"$VENV/bin/proxgit" init --forge gitlab "$WORK/starter" >/dev/null \
  && "$VENV/bin/proxgit" validate "$WORK/starter" >"$WORK/starter.log" 2>&1 \
  || { cat "$WORK/starter.log" >&2; fail "proxgit init + validate from the wheel"; }
say "proxgit init + validate: $(tail -1 "$WORK/starter.log")"
if "$VENV/bin/pip" list --disable-pip-version-check --format=freeze | grep -qi '^fakepve=='; then
  fail "fakepve is installed without the demo extra"
fi
set +e
"$VENV/bin/proxgit" demo --workdir "$WORK/demo-none" >"$WORK/nodemo.log" 2>&1
status=$?
set -e
grep -q "pip install 'proxgit\[demo\]'" "$WORK/nodemo.log" && [ "$status" -eq 1 ] \
  && ! grep -q Traceback "$WORK/nodemo.log" \
  || { cat "$WORK/nodemo.log" >&2; fail "proxgit demo without fakepve (exit $status)"; }
say "proxgit demo without fakepve: $(head -1 "$WORK/nodemo.log")"

# --- 4. the demo extra ------------------------------------------------------------------
quiet_pip "$VENV" "$WHEEL[demo]"
"$VENV/bin/proxgit" demo --workdir "$WORK/demo" >"$WORK/demo.log" 2>&1 \
  || { tail -40 "$WORK/demo.log" >&2; fail "proxgit demo from the wheel"; }
grep -q "The temporary repository is at $WORK/demo/work" "$WORK/demo.log" \
  || { tail -20 "$WORK/demo.log" >&2; fail "the demo did not finish"; }
! grep -q Traceback "$WORK/demo.log" || fail "the demo printed a traceback"
say "proxgit demo (wheel + demo extra): $(grep -c '^==> ' "$WORK/demo.log") steps, finished"
say "OK $VERSION"
