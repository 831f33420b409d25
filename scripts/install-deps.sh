#!/usr/bin/env bash
# Install the Debian packages that building, testing and the boot proof need (.ci/packages.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2046
apt-get install -y -qq --no-install-recommends $(grep -v '^#' .ci/packages.txt) >/dev/null
