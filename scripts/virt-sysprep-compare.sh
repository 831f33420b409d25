#!/usr/bin/env bash
# What virt-sysprep (its default operations) leaves of the planted host state: builds an ext4
# image of the planted guest tree (scripts/fixtures/lib.sh make_guest_tree), runs virt-sysprep
# on it, reads the result back with debugfs and checks every line of fixtures/planted.txt
# (cloudseal's planted-tree test checks the same list against cloudseal's default plan).
# Prints one MISSED line per planted path not handled as planted.txt says, then the time taken.
# Needs guestfs-tools (virt-sysprep), e2fsprogs, python3. Not part of CI (it boots an appliance).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/fixtures/lib.sh
need virt-sysprep mkfs.ext4 debugfs python3
work=$(mktemp -d "${TMPDIR:-/tmp}/cloudseal-vs.XXXXXX")
trap 'rm -rf "$work"' EXIT
make_guest_tree "$work/tree"
# libguestfs inspection wants /bin to recognise a Linux root.
ln -s usr/bin "$work/tree/bin"
mkfs.ext4 -q -d "$work/tree" "$work/img" 128M
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
start=$(date +%s.%N)
if ! virt-sysprep -q -a "$work/img" 2>"$work/err"; then
    # Nested KVM can make qemu abort (MSR errors): fall back to TCG, and say so.
    echo "virt-sysprep failed with KVM ($(grep -m1 -i error "$work/err" || true)); retrying with TCG" >&2
    start=$(date +%s.%N)
    LIBGUESTFS_BACKEND_SETTINGS=force_tcg virt-sysprep -q -a "$work/img"
fi
end=$(date +%s.%N)
mkdir "$work/out"
debugfs -R "rdump / $work/out" "$work/img" 2>/dev/null
python3 - "$work/out" fixtures/planted.txt <<'PY'
import os, sys
root, planted = sys.argv[1], sys.argv[2]
mac = "52:54:00:12:34:56"
missed = total = 0
for line in open(planted):
    if line.startswith("#") or not line.strip():
        continue
    op, path, outcome = line.rstrip("\n").split("\t")
    total += 1
    h = root + path
    exists = os.path.lexists(h)
    if outcome == "removed":
        ok = not exists
    elif outcome == "emptied":
        ok = exists and os.path.getsize(h) == 0
    else:
        ok = exists and mac not in open(h, errors="replace").read()
    if not ok:
        missed += 1
        now = "still there" if exists else "gone"
        print(f"MISSED {op:26} {path} (planted: {outcome}; {now})")
print(f"virt-sysprep handled {total - missed} of {total} planted paths")
PY
awk -v s="$start" -v e="$end" 'BEGIN { printf "virt-sysprep wall time: %.1f s\n", e - s }'
