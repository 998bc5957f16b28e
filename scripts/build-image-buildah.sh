#!/usr/bin/env bash
# Build the container image for real, from the Dockerfile, with buildah, and
# run proxgit inside it. No registry is needed:
#
#   1. a Debian bookworm base image made with debootstrap (python3, venv, a
#      `python` command, CA certificates), imported into buildah as
#      localhost/proxgit-base:bookworm; it stands in for python:3.11-slim-bookworm
#      (same Debian release, same Python minor version);
#   2. `buildah build` of the Dockerfile's runtime target and its demo target
#      (no layer cache: each vfs layer is a full copy, and buildah 1.28 cannot
#      bind-mount a cached stage),
#      vfs storage and chroot isolation (no daemon, no overlay, no user
#      namespaces needed), in a private storage root under a temp dir;
#   3. inside the runtime image: `proxgit --version`, the user (10001), `proxgit
#      init` + `proxgit validate`, `proxgit validate` of the example repository
#      the wheel carries, and `proxgit demo` refusing with its one-line message;
#      inside the demo image: `proxgit demo`, the whole story;
#   4. the sizes: each image as stored (uncompressed) and as a registry would
#      hold it (gzip layers of an OCI layout).
#
# Needs root (debootstrap, chroot). Installs buildah and debootstrap with
# apt-get when they are missing. The last line is `image_size_mb=<runtime, MB>`.
#
# Usage: scripts/build-image-buildah.sh     (KEEP=1 keeps the temp dir)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/proxgit-buildah.XXXXXX")"
say() { printf 'image-build: %s\n' "$*"; }
fail() { printf 'image-build: FAILED: %s\n' "$*" >&2; exit 1; }
B=(buildah --storage-driver vfs --root "$WORK/storage" --runroot "$WORK/run")
cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    say "keeping $WORK"
    return
  fi
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  "${B[@]}" rmi --all --force >/dev/null 2>&1 || true
  rm -rf "$WORK" 2>/dev/null || { chattr -R -i "$WORK" 2>/dev/null; rm -rf "$WORK"; }
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap and chroot isolation)"
missing=()
for tool in buildah debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >"$WORK/apt.log" 2>&1 \
    || { apt-get update >>"$WORK/apt.log" 2>&1 \
      && apt-get install -y --no-install-recommends "${missing[@]}" >>"$WORK/apt.log" 2>&1; } \
    || { tail -20 "$WORK/apt.log" >&2; fail "apt-get install ${missing[*]}"; }
fi
say "$(buildah --version)"
started=$SECONDS

# --- 1. the base image ----------------------------------------------------------------
ROOTFS="$WORK/rootfs"
debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
  bookworm "$ROOTFS" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -20 "$WORK/debootstrap.log" >&2; fail "debootstrap"; }
# What Debian's official images do: no package cache left in any layer.
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/lib/apt/lists/*
# The build reaches PyPI the way this machine does: trust the host's CA bundle
# (a TLS-inspecting egress proxy here) and have pip use it instead of certifi's.
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$ROOTFS/etc/pip.conf"
tar -C "$ROOTFS" -cf "$WORK/base.tar" .
rm -rf "$ROOTFS"
ctr="$("${B[@]}" from scratch)"
"${B[@]}" add "$ctr" "$WORK/base.tar" / >/dev/null
"${B[@]}" commit --quiet "$ctr" localhost/proxgit-base:bookworm >/dev/null
"${B[@]}" rm "$ctr" >/dev/null
rm -f "$WORK/base.tar"
say "base image localhost/proxgit-base:bookworm from debootstrap ($((SECONDS - started)) s)"

# --- 2. build both targets --------------------------------------------------------------
VERSION="${VERSION:-0.1.dev0}"
for target in runtime demo; do
  tag="localhost/proxgit:${VERSION}"
  [ "$target" = runtime ] || tag="${tag}-demo"
  t0=$SECONDS
  (cd "$ROOT" && "${B[@]}" build --isolation chroot --pull-never --layers=false \
    --build-arg PYTHON_IMAGE=localhost/proxgit-base:bookworm --build-arg VERSION="$VERSION" \
    --build-arg REVISION="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)" \
    --target "$target" -t "$tag" . >"$WORK/build-$target.log" 2>&1) \
    || { tail -30 "$WORK/build-$target.log" >&2; fail "buildah build --target $target"; }
  say "built $tag ($((SECONDS - t0)) s)"
done

# --- 3. proxgit inside ------------------------------------------------------------------
inside() {  # inside IMAGE COMMAND...: run in a fresh container as the image's user
  local image="$1" c out status
  shift
  c="$("${B[@]}" from --pull-never "$image")"
  set +e
  out="$("${B[@]}" run --isolation chroot "$c" -- "$@" 2>&1)"
  status=$?
  set -e
  "${B[@]}" rm "$c" >/dev/null
  printf '%s\n' "$out"
  return "$status"
}
RUNTIME="localhost/proxgit:${VERSION}"
DEMO="localhost/proxgit:${VERSION}-demo"

said="$(inside "$RUNTIME" proxgit --version)" || fail "proxgit --version: $said"
[ "$said" = "proxgit, version $VERSION" ] || fail "proxgit --version said '$said'"
say "runtime: proxgit --version: $said"
user="$(inside "$RUNTIME" id -u)"
[ "$user" = 10001 ] || fail "the image runs as uid $user, not 10001"
say "runtime: runs as uid $user"
out="$(inside "$RUNTIME" sh -c 'proxgit init --forge github /tmp/infra >/dev/null && proxgit validate /tmp/infra')" \
  || fail "proxgit init + validate in the image: $out"
say "runtime: proxgit init + validate: $out"
out="$(inside "$RUNTIME" sh -c \
  'proxgit validate "$(python -c "from proxgit.starter import example_repository as e; print(e())")"')" \
  || fail "proxgit validate of the packaged example: $out"
say "runtime: proxgit validate <packaged example-repo>: $out"
set +e
out="$(inside "$RUNTIME" proxgit demo)"
status=$?
set -e
[ "$status" -eq 1 ] && grep -q "pip install 'proxgit\[demo\]'" <<<"$out" && ! grep -q Traceback <<<"$out" \
  || fail "proxgit demo in the runtime image (exit $status): $out"
say "runtime: proxgit demo: exit 1: ${out:0:72}..."
if inside "$RUNTIME" python -c 'import fakepve' >/dev/null 2>&1; then
  fail "fakepve is importable in the runtime image"
fi
say "runtime: fakepve is not installed"
out="$(inside "$DEMO" proxgit demo)" || { tail -20 <<<"$out" >&2; fail "proxgit demo in the demo image"; }
grep -q "The temporary repository is at" <<<"$out" || fail "the demo did not finish: $(tail -5 <<<"$out")"
say "demo: proxgit demo: $(grep -c '^==> ' <<<"$out") steps, finished"

# --- 4. sizes -----------------------------------------------------------------------------
size_of() {  # uncompressed bytes as stored, and gzip bytes as a registry holds them
  local image="$1" layout="$WORK/oci-$2"
  local raw
  raw="$("${B[@]}" images --format '{{.Size}}' --noheading "$image" | head -1 | tr -d ' ')"
  "${B[@]}" push --quiet --compression-format gzip "$image" "oci:$layout" >/dev/null 2>&1 \
    || fail "buildah push $image to an OCI layout"
  local compressed
  compressed="$(du -sb "$layout/blobs" | cut -f1)"
  rm -rf "$layout"
  printf '%s %s\n' "$raw" "$compressed"
}
read -r runtime_raw runtime_gz <<<"$(size_of "$RUNTIME" runtime)"
read -r demo_raw demo_gz <<<"$(size_of "$DEMO" demo)"
read -r base_raw base_gz <<<"$(size_of localhost/proxgit-base:bookworm base)"
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
say "size: base $base_raw stored, $(mb "$base_gz") MB gzip"
say "size: runtime $runtime_raw stored, $(mb "$runtime_gz") MB gzip"
say "size: demo $demo_raw stored, $(mb "$demo_gz") MB gzip"
say "OK in $((SECONDS - started)) s"
echo "image_size_mb=$(mb "$runtime_gz")"
