#!/usr/bin/env bash
# The whole test suite: fixtures, lints, services, tests. `.ci/run` calls this after installing
# the system packages; on a developer machine with the packages present, run it directly.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/gen-fixtures.sh

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings

# A real Keystone + Glance for tests/glance.rs; stopped however the tests end.
trap 'scripts/start-glance.sh stop' EXIT
eval "$(scripts/start-glance.sh start)"

cargo test --all-targets 2>&1

# The boot proof: debootstrapped Debian 12 and 13 disks sealed with defaults (and Debian 12 by
# recipes/debian-12.toml), booted under qemu (TCG) without and with a NoCloud datasource, with
# negative controls (see the script's header for the boots and their timings).
cargo build --release
# The mount backend's fault-injection hook is for debug builds only (src/fs/mount/mod.rs).
if grep -q CLOUDSEAL_FAULT target/release/cloudseal; then
    echo "target/release/cloudseal contains the CLOUDSEAL_FAULT test hook" >&2
    exit 1
fi
scripts/e2e-boot.sh all
