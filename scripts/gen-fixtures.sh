#!/usr/bin/env bash
# Generate every test fixture into target/fixtures (or $CLOUDSEAL_FIXTURES).
# Each group lives in scripts/fixtures/<group>.sh and is skipped when its stamp is newer
# than the script, so repeated runs are cheap. Delete target/fixtures to start over.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${CLOUDSEAL_FIXTURES:-$PWD/target/fixtures}
mkdir -p "$out"
export CLOUDSEAL_FIXTURES=$out
for script in scripts/fixtures/*.sh; do
    group=$(basename "$script" .sh)
    [ "$group" = lib ] && continue
    stamp=$out/.$group.stamp
    if [ -f "$stamp" ] && [ "$stamp" -nt "$script" ] && [ "$stamp" -nt scripts/fixtures/lib.sh ]; then
        continue
    fi
    echo "gen-fixtures: $group"
    bash "$script" "$out"
    touch "$stamp"
done
