#!/usr/bin/env bash
# Builds a statically linked `weir` (glibc, `crt-static`) for the container image and its test, and
# prints the binary's path on stdout (cargo's output goes to stderr).
#
# Usage: scripts/build-static.sh [debug|release]   (default: release)
#
# `cargo rustc` passes `-C target-feature=+crt-static` to the final binary only: the dependencies
# cached by ordinary builds are reused, and only `weir` itself is compiled and linked again. Since
# glibc 2.34 the `files` and `dns` name services are part of libc itself, so the static binary resolves
# host names through /etc/hosts and /etc/resolv.conf without any NSS module (what a `FROM scratch`
# image lacks); glibc's link-time warning about `getaddrinfo` concerns the other modules only.
# The result is copied to $CARGO_TARGET_DIR/static/PROFILE/weir, because the next ordinary build
# replaces target/PROFILE/weir with a dynamically linked one.
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${1:-release}"
case "$profile" in
  debug) cargo_profile=dev ;;
  release) cargo_profile=release ;;
  *) echo "usage: $0 [debug|release]" >&2; exit 2 ;;
esac
extra=()
# Symbols are dead weight in the image; the debug build keeps them for backtraces in tests.
[ "$profile" = release ] && extra=(-C strip=symbols)

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
cargo rustc --locked -p weir-cli --bin weir --profile "$cargo_profile" \
  -- -C target-feature=+crt-static "${extra[@]}" >&2

built="$target_dir/$profile/weir"
if readelf -l "$built" | grep -q 'INTERP' || readelf -d "$built" | grep -q '(NEEDED)'; then
  echo "error: $built is dynamically linked" >&2
  readelf -d "$built" | grep '(NEEDED)' >&2 || true
  exit 1
fi

out_dir="$target_dir/static/$profile"
mkdir -p "$out_dir"
cp "$built" "$out_dir/weir.tmp"
mv "$out_dir/weir.tmp" "$out_dir/weir"
echo "$out_dir/weir"
