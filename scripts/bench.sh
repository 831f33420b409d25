#!/usr/bin/env bash
# Benchmark `cloudseal convert` against `qemu-img convert` on a realistic disk, in one run.
#
#   scripts/bench.sh [WORKDIR]        (root: it loop-mounts the test disk once to build it)
#   env: RUNS=3 (timed runs per command, median reported), RUNS_SLOW=$RUNS (for the
#        compressed rows, ~100 s per qemu-img run; 0 skips them), SIZE=4G (test disk),
#        BIG=64G (sparse disk for the RSS-flatness rows), CLOUDSEAL=target/release/cloudseal
#
# The test disk: an ext4 filesystem made by mkfs.ext4 -d from a copy of this machine's
# /usr/share, /usr/lib/python3* and /usr/lib/gcc, whose free space then received a copy of
# /usr/lib/x86_64-linux-gnu and /usr/lib/jvm that was deleted again (old data, still non-zero).
# Prints a markdown table: median wall time, peak RSS (/usr/bin/time -v), output file size and
# allocated size, and cloudseal/qemu-img ratios. Inputs are read once before timing, so every
# run reads from the page cache.
#
# Durability: cloudseal fsyncs its output before renaming it into place. qemu-img convert
# does not flush at all by default (its output cache mode is "unsafe": no fdatasync after the
# data, checked with strace), so its output may still be in the page cache when it exits.
# Every qemu-img command is therefore timed as `qemu-img convert ... && sync OUT`, and one
# extra row shows qemu-img without the sync.
# The "Glance" row compares what users run today to get the three digests Glance records,
# `qemu-img convert`, sync, then sha256sum, sha512sum and md5sum of the output, with
# cloudseal convert computing them itself.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/var/tmp/cloudseal-bench}
RUNS=${RUNS:-3}
RUNS_SLOW=${RUNS_SLOW:-$RUNS}
SIZE=${SIZE:-4G}
BIG=${BIG:-64G}
CS=${CLOUDSEAL:-$PWD/target/release/cloudseal}
[ -x "$CS" ] || cargo build --release
for t in qemu-img mkfs.ext4 /usr/bin/time mount umount; do
    command -v "$t" >/dev/null || { echo "bench: $t is missing" >&2; exit 1; }
done
mkdir -p "$work"
cd "$work"

if [ ! -f disk.raw ]; then
    echo "bench: building a $SIZE test disk in $work" >&2
    rm -rf stage && mkdir -p stage/usr/lib
    cp -a /usr/share stage/usr/
    cp -a /usr/lib/python3* /usr/lib/gcc stage/usr/lib/
    truncate -s "$SIZE" disk.tmp
    mkfs.ext4 -q -F -d stage disk.tmp
    rm -rf stage
    mnt=$(mktemp -d)
    mount -o loop disk.tmp "$mnt"
    mkdir "$mnt/old"
    cp -a /usr/lib/x86_64-linux-gnu /usr/lib/jvm "$mnt/old/" 2>/dev/null || true
    sync
    rm -rf "$mnt/old"
    umount "$mnt"
    rmdir "$mnt"
    mv disk.tmp disk.raw
fi
[ -f disk.qcow2 ] || qemu-img convert -O qcow2 disk.raw disk.qcow2
if [ ! -f big.raw ]; then
    # The test disk at the start of a large sparse disk, plus data near its end.
    truncate -s "$BIG" big.tmp
    dd if=disk.raw of=big.tmp conv=notrunc,sparse bs=1M status=none
    dd if=disk.raw of=big.tmp conv=notrunc,sparse bs=1M count=256 status=none \
        seek=$(($(stat -c %s big.tmp) / 1048576 - 256))
    mv big.tmp big.raw
fi
cat disk.raw disk.qcow2 >/dev/null

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# measure NAME OUT CMD...: sets T (median s), R (max RSS MiB), S (file MiB), A (allocated MiB)
measure() {
    local name=$1 out=$2
    shift 2
    local times=() rss=0
    for _ in $(seq "$RUNS"); do
        # Untimed: settle the previous run's writeback (qemu-img's unsynced output, the
        # freeing of the deleted file) so it is not charged to whichever command runs next.
        rm -f "$out"
        sync
        /usr/bin/time -v -o time.txt "$@" >/dev/null 2>err.txt || {
            echo "bench: $name failed:" >&2
            cat err.txt time.txt >&2
            exit 1
        }
        local wall r
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); s=0; for(i=1;i<=n;i++) s=s*60+p[i]; print s}' time.txt)
        r=$(awk -F': ' '/Maximum resident/ {print $2}' time.txt)
        times+=("$wall")
        [ "$r" -gt "$rss" ] && rss=$r
    done
    T=$(printf '%s\n' "${times[@]}" | median)
    R=$((rss / 1024))
    S=$(($(stat -c %s "$out") / 1048576))
    A=$(($(du -B1 "$out" | cut -f1) / 1048576))
    echo "bench: $name: ${T}s ${R}MiB rss, ${S}MiB file, ${A}MiB allocated" >&2
}

row() { # row LABEL then the qemu-img and cloudseal measurements (T R S A of each)
    local label=$1 qt=$2 qr=$3 qs=$4 qa=$5 ct=$6 cr=$7 cs=$8 ca=$9
    local ratio
    ratio=$(awk -v a="$ct" -v b="$qt" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
    echo "| $label | $qt | $ct | **$ratio** | $qr | $cr | $qs / $qa | $cs / $ca |"
}

echo "bench: load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "| conversion | qemu-img s | cloudseal s | time ratio cs/qemu | qemu RSS MiB | cs RSS MiB | qemu file / alloc MiB | cs file / alloc MiB |"
echo "|---|---|---|---|---|---|---|---|"
# qemu-img, then sync of its output (see the header); run through bash -c.
QSYNC='qemu-img convert "$@" && sync "${@: -1}"'
# The Glance flow: convert, sync, then the three digests one after the other.
QSUMS='qemu-img convert "$@" && o=${@: -1} && sync "$o" && sha256sum "$o" && sha512sum "$o" && md5sum "$o"'
declare -A QDONE CDONE
pair() { # pair LABEL INPUT OUT "qemu-img args" "cloudseal args" [QEMU-WRAPPER]
    local label=$1 in=$2 out=$3 qargs=$4 cargs=$5 wrap=${6:-$QSYNC}
    local key="$wrap|$qargs|$in|$RUNS"
    if [ -z "${QDONE[$key]:-}" ]; then # the same command is measured once
        # shellcheck disable=SC2086
        measure "qemu-img $label" "$out" bash -c "$wrap" qemu-img $qargs "$in" "$out"
        QDONE[$key]="$T $R $S $A"
    fi
    local q
    read -r -a q <<<"${QDONE[$key]}"
    local ckey="$cargs|$in|$RUNS"
    if [ -z "${CDONE[$ckey]:-}" ]; then
        # shellcheck disable=SC2086
        measure "cloudseal $label" "$out" "$CS" convert -q $cargs "$in" "$out"
        CDONE[$ckey]="$T $R $S $A"
    fi
    local c
    read -r -a c <<<"${CDONE[$ckey]}"
    row "$label" "${q[@]}" "${c[@]}"
    rm -f "$out"
}
pair "raw -> qcow2" disk.raw out.qcow2 "-O qcow2" ""
pair "raw -> qcow2 (cs: no checksums)" disk.raw out.qcow2 "-O qcow2" "--no-checksums"
pair "raw -> qcow2 (cs: no checksums; qemu-img: no sync)" disk.raw out.qcow2 "-O qcow2" \
    "--no-checksums" 'qemu-img convert "$@"'
pair "Glance: raw -> qcow2 + sha256, sha512, md5 (qemu-img: + sync, sha256sum, sha512sum, md5sum)" \
    disk.raw out.qcow2 "-O qcow2" "" "$QSUMS"
pair "qcow2 -> raw" disk.qcow2 out.raw "-O raw" "-O raw"
pair "qcow2 -> raw (cs: no checksums)" disk.qcow2 out.raw "-O raw" "-O raw --no-checksums"
if [ "$RUNS_SLOW" -gt 0 ]; then
    RUNS=$RUNS_SLOW
    pair "raw -> qcow2 zlib" disk.raw out.qcow2 "-c -O qcow2" "-c zlib"
    pair "raw -> qcow2 zstd" disk.raw out.qcow2 "-c -O qcow2 -o compression_type=zstd" "-c zstd"
    pair "raw -> qcow2 zstd (cs: no checksums)" disk.raw out.qcow2 \
        "-c -O qcow2 -o compression_type=zstd" "-c zstd --no-checksums"
fi
RUNS=1
pair "$BIG sparse raw -> qcow2" big.raw out.qcow2 "-O qcow2" ""
pair "$BIG sparse raw -> qcow2 (cs: no checksums)" big.raw out.qcow2 "-O qcow2" "--no-checksums"
if [ "$RUNS_SLOW" -gt 0 ]; then
    pair "$BIG sparse raw -> qcow2 zstd" big.raw out.qcow2 \
        "-c -O qcow2 -o compression_type=zstd" "-c zstd"
fi
echo "bench: load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
