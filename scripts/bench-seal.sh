#!/usr/bin/env bash
# Benchmark `cloudseal seal` on a realistic Debian disk against the other ways to do the job:
#   (a) virt-sysprep + virt-sparsify + qemu-img convert   (only when libguestfs-tools is installed)
#   (b) the root-only shell pipeline: losetup (at the root partition's offset), mount, rm the same files, sync -f, fstrim,
#       umount, qemu-img convert                           (needs root and loop devices)
# All on the same input, in one run. Targets (issue 4): >= 20x faster than (a); no slower than
# 1.5x (b) and no larger than (b)'s output.
#
# The disk (built once, cached in target/bench): a 2 GiB GPT disk with a BIOS boot partition and
# an ext4 root made by debootstrap (minbase + kernel, sshd, cloud-init), with the planted host
# state of scripts/fixtures/lib.sh on top and 300 MiB of deleted random data in its free blocks
# (as a used VM has). Usage: scripts/bench-seal.sh [--rebuild]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/fixtures/lib.sh
need debootstrap sgdisk mkfs.ext4 debugfs qemu-img losetup mount fstrim python3 cp du

bench=$PWD/target/bench
disk=$bench/debian-2g.raw
mkdir -p "$bench"
[ "${1:-}" = --rebuild ] && rm -f "$disk"

# The debootstrap tree, cached in target/bench/root.
build_root() {
    [ -f "$bench/root.done" ] && return
    rm -rf "$bench/root"
    echo "bench: debootstrap (a few minutes)"
    debootstrap --variant=minbase \
        --include=systemd-sysv,openssh-server,linux-image-cloud-amd64,ifupdown,isc-dhcp-client,locales,less,vim-tiny,sudo,curl,python3 \
        bookworm "$bench/root" >"$bench/debootstrap.log" 2>&1 ||
        { tail -20 "$bench/debootstrap.log"; exit 1; }
    touch "$bench/root.done"
}

build_disk() {
    local work root tree
    build_root
    work=$(mktemp -d "$bench/.build.XXXXXX")
    root=$work/root
    cp -a "$bench/root" "$root"
    # The planted host state, over the real system.
    tree=$work/tree
    make_guest_tree "$tree"
    rm -f "$tree/lib" "$tree/var/run" # the real root has its own
    cp -a --remove-destination "$tree/." "$root/"
    local size=$((2048 * 1024 * 1024)) start=$((2 * 1024 * 1024))
    truncate -s "$((size - start - 1024 * 1024))" "$work/root.fs"
    mkfs.ext4 -q -F -b 4096 -U "$FIXED_UUID" -L root -d "$root" "$work/root.fs"
    # Deleted data in free blocks: written, then removed (debugfs rm does not zero).
    head -c $((300 * 1024 * 1024)) /dev/urandom >"$work/junk"
    debugfs -w -R "write $work/junk /junk" "$work/root.fs" >/dev/null 2>&1
    debugfs -w -R "rm /junk" "$work/root.fs" >/dev/null 2>&1
    e2fsck -fn "$work/root.fs" >/dev/null
    truncate -s "$size" "$work/disk.raw"
    sgdisk -n 1:2048:4095 -t 1:ef02 -n 2:4096:0 -t 2:8304 "$work/disk.raw" >/dev/null
    dd if="$work/root.fs" of="$work/disk.raw" bs=1M seek=2 conv=notrunc,sparse status=none
    mv "$work/disk.raw" "$disk"
    rm -rf "$work"
}
[ -f "$disk" ] || build_disk

cargo build --release -q
cs=$PWD/target/release/cloudseal
out=$(mktemp -d "$bench/.run.XXXXXX")
loop=
cleanup() {
    # A failed (b) must not leave its mount or loop device behind.
    mountpoint -q "$out/mnt" 2>/dev/null && umount "$out/mnt"
    [ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
    rm -rf "$out"
}
trap cleanup EXIT
sync

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
alloc() { du -k --apparent-size "$1" | cut -f1; }
report() { printf '%-44s %8s s  %8s KiB file  %8s KiB allocated\n' "$1" "$2" "$(alloc "$3")" "$(du -k "$3" | cut -f1)"; }

echo "input: $disk ($(du -k "$disk" | cut -f1) KiB allocated of $(alloc "$disk") KiB)"

# --- cloudseal ---
t0=$(now); "$cs" -q seal "$disk" -o "$out/cs.qcow2"; t1=$(now)
cs_qcow2=$(secs "$t0" "$t1"); report "cloudseal seal -> qcow2" "$cs_qcow2" "$out/cs.qcow2"
t0=$(now); "$cs" -q seal "$disk" -o "$out/cs-zstd.qcow2" -c zstd; t1=$(now)
report "cloudseal seal -> qcow2 (zstd)" "$(secs "$t0" "$t1")" "$out/cs-zstd.qcow2"
t0=$(now); "$cs" -q seal "$disk" -o "$out/cs.raw" -O raw; t1=$(now)
report "cloudseal seal -> raw" "$(secs "$t0" "$t1")" "$out/cs.raw"
# The other pipelines hash nothing: the same without sha256/sha512/md5 of the output.
t0=$(now); "$cs" -q seal "$disk" -o "$out/cs-nosum.qcow2" --no-checksums; t1=$(now)
cs_nosum=$(secs "$t0" "$t1"); report "cloudseal seal -> qcow2, --no-checksums" "$cs_nosum" "$out/cs-nosum.qcow2"

# The paths cloudseal changes, for the shell pipeline to remove the same.
"$cs" seal "$disk" --dry-run --json >"$out/plan.json"
python3 - "$out/plan.json" >"$out/plan.txt" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for f in r["filesystems"]:
    for a in f["planned"]:
        if a["action"] in ("remove", "remove-tree"):
            print("rm", a["path"])
        elif a["action"] == "empty-dir":
            print("empty", a["path"])
        elif a["action"] in ("truncate",):
            print("truncate", a["path"])
PY
# Where the root filesystem starts (losetup -P needs udev for the partition nodes).
root_start=$(python3 -c "import json,sys; print([f['start'] for f in json.load(open(sys.argv[1]))['filesystems'] if f.get('os')][0])" "$out/plan.json")

# --- (b) the shell pipeline (root only: edits a copy through the kernel) ---
if [ "$(id -u)" = 0 ]; then
    t0=$(now)
    cp --sparse=always "$disk" "$out/b.raw"
    tc=$(now)
    loop=$(losetup --show -f -o "$root_start" "$out/b.raw")
    mkdir -p "$out/mnt"
    mount "$loop" "$out/mnt"
    while read -r op path; do
        case $op in
        rm) rm -rf "$out/mnt$path" ;;
        empty) find "$out/mnt$path" -mindepth 1 -delete ;;
        truncate) : >"$out/mnt$path" ;;
        esac
    done <"$out/plan.txt"
    sync -f "$out/mnt"
    fstrim "$out/mnt"
    umount "$out/mnt"
    losetup -d "$loop"
    loop=
    qemu-img convert -O qcow2 "$out/b.raw" "$out/b.qcow2"
    t1=$(now)
    b_all=$(secs "$t0" "$t1")
    report "(b) cp + losetup/mount/rm/fstrim + convert" "$b_all" "$out/b.qcow2"
    echo "    of which the copy of the input: $(secs "$t0" "$tc") s"
    python3 -c "print(f'cloudseal / (b) = {$cs_qcow2 / $b_all:.2f} with checksums, {$cs_nosum / $b_all:.2f} without (target <= 1.5)')"
    python3 -c "print(f'output size cloudseal / (b) = {$(alloc "$out/cs.qcow2") / $(alloc "$out/b.qcow2"):.3f} (target <= 1)')"
else
    echo "(b) skipped: needs root for losetup and mount"
fi

# --- (a) libguestfs ---
if command -v virt-sysprep >/dev/null && command -v virt-sparsify >/dev/null; then
    export LIBGUESTFS_BACKEND_SETTINGS=force_tcg
    t0=$(now)
    cp --sparse=always "$disk" "$out/a.raw"
    virt-sysprep -q -a "$out/a.raw" >/dev/null
    virt-sparsify -q "$out/a.raw" "$out/a-sparse.raw"
    qemu-img convert -O qcow2 "$out/a-sparse.raw" "$out/a.qcow2"
    t1=$(now)
    a_all=$(secs "$t0" "$t1")
    report "(a) virt-sysprep + virt-sparsify + convert" "$a_all" "$out/a.qcow2"
    python3 -c "print(f'(a) / cloudseal = {$a_all / $cs_qcow2:.1f}x (target >= 20)')"
    python3 -c "print(f'output size cloudseal / virt-sparsify = {$(alloc "$out/cs.raw") / $(alloc "$out/a-sparse.raw"):.3f} apparent, {$(du -k "$out/cs.raw" | cut -f1) / $(du -k "$out/a-sparse.raw" | cut -f1):.3f} allocated (target <= 1)')"
else
    echo "(a) skipped: libguestfs-tools (virt-sysprep, virt-sparsify) is not installed"
fi
