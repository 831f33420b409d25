#!/usr/bin/env bash
# The main job end to end, on an image this project builds itself: a Debian 12 disk made with
# debootstrap and left with host state like a used VM (scripts/e2e-boot.sh build), sealed by
# recipes/debian-12.toml into a zstd qcow2 with a manifest, inspected before and after.
# Run as root on Debian 12 (debootstrap needs it). Add `--boot` to also boot the result under
# qemu and check it came up as a fresh machine (a few minutes under TCG).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release -q
cs=$PWD/target/release/cloudseal
scripts/e2e-boot.sh build
e2e=${E2E_CACHE:-$PWD/target/e2e}
base=$e2e/base.qcow2 out=$PWD/target/demo
mkdir -p "$out"
echo "== before: $base"
"$cs" inspect "$base"
echo "== cloudseal build recipes/debian-12.toml"
time "$cs" build recipes/debian-12.toml --var base="$base" --var out="$out" --force
echo "== after: $out/debian-12-sealed.qcow2"
"$cs" inspect "$out/debian-12-sealed.qcow2"
qemu-img check "$out/debian-12-sealed.qcow2"
ls -l "$base" "$out"
if [ "${1:-}" = --boot ]; then
    scripts/e2e-boot.sh boot "$out/debian-12-sealed.qcow2" "$out/boot.log"
fi
