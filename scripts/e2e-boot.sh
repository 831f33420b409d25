#!/usr/bin/env bash
# Boot proof: build a real Debian 12 disk with debootstrap, leave host state on it like a used
# VM has, seal it with cloudseal, boot the result under qemu (TCG), and check on the serial
# console that it came up as a fresh machine: multi-user reached, a new machine-id, new SSH
# host keys with sshd active, and an address from DHCP.
#
#   scripts/e2e-boot.sh all                 build, then the three boots below (CI runs this)
#   scripts/e2e-boot.sh build               only the base image ($E2E_CACHE/base.qcow2)
#   scripts/e2e-boot.sh boot IMAGE [LOG]    boot one image and judge it
#   scripts/e2e-boot.sh judge LOG           judge a boot log again
#
# `all` builds recipes/debian-12.toml on the base with `cloudseal build` and boots three
# images; each verdict must be the expected one, or the proof fails:
#   sealed by the recipe                      -> PASS
#   the unsealed base                         -> FAIL, machine-id not regenerated
#   sealed without the first-boot key refresh -> FAIL, sshd not active
# The two negative controls show the judge can fail, on the very things it checks.
#
# The debootstrap tree is cached in $E2E_CACHE (default target/e2e); needs root (debootstrap,
# chroot) and qemu-system-x86_64.
set -euo pipefail
cd "$(dirname "$0")/.."
E2E=${E2E_CACHE:-$PWD/target/e2e}
CLOUDSEAL=${CLOUDSEAL:-$PWD/target/release/cloudseal}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ORIG_MACHINE_ID=0123456789abcdef0123456789abcdef
mkdir -p "$E2E"

log() { echo "e2e: $*" >&2; }
die() { echo "e2e: FAIL: $*" >&2; exit 1; }
for t in debootstrap qemu-system-x86_64 sgdisk mkfs.ext4 qemu-img; do
    command -v "$t" >/dev/null || die "required tool $t is missing (see .ci/packages.txt)"
done

# 1. A Debian 12 root with systemd, openssh-server, systemd-networkd and a kernel.
build_root() {
    local root=$E2E/root
    if [ -f "$E2E/root.done" ]; then return; fi
    rm -rf "$root"
    log "debootstrap bookworm (a minute or two)"
    debootstrap --variant=minbase \
        --include=systemd-sysv,openssh-server,linux-image-cloud-amd64,iproute2,udev,dbus,ifupdown \
        bookworm "$root" "$MIRROR" > "$E2E/debootstrap.log" 2>&1 \
        || { tail -20 "$E2E/debootstrap.log"; die "debootstrap failed"; }
    touch "$E2E/root.done"
}

# 2. Make it look like a VM that has run: configuration plus host state.
used_vm_tree() {
    local t=$E2E/tree
    rm -rf "$t"
    cp -a "$E2E/root" "$t"
    echo "UUID=$ROOT_UUID / ext4 errors=remount-ro 0 1" > "$t/etc/fstab"
    echo "old-build-host" > "$t/etc/hostname"
    # DHCP on whatever the NIC is called, through systemd-networkd.
    mkdir -p "$t/etc/systemd/network"
    printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n' > "$t/etc/systemd/network/80-dhcp.network"
    ln -sf /lib/systemd/system/systemd-networkd.service \
        "$t/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
    # The check harness (runs only with cloudseal.check=1 on the kernel command line).
    install -m 755 scripts/e2e/check-unit.sh "$t/usr/local/sbin/cloudseal-check"
    cat > "$t/etc/systemd/system/cloudseal-check.service" <<'UNIT'
[Unit]
Description=cloudseal boot proof report
ConditionKernelCommandLine=cloudseal.check=1
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/cloudseal-check

[Install]
WantedBy=multi-user.target
UNIT
    ln -sf /etc/systemd/system/cloudseal-check.service \
        "$t/etc/systemd/system/multi-user.target.wants/cloudseal-check.service"
    # Host state a used VM has: a fixed machine-id (dbus copy too), host keys (debootstrap's
    # postinst made them), a lease, logs, history, a persistent-net rule, cloud-init leftovers.
    echo "$ORIG_MACHINE_ID" > "$t/etc/machine-id"
    mkdir -p "$t/var/lib/dbus" && echo "$ORIG_MACHINE_ID" > "$t/var/lib/dbus/machine-id"
    mkdir -p "$t/var/lib/dhcp" && printf 'lease { fixed-address 10.0.2.15; }\n' > "$t/var/lib/dhcp/dhclient.ens3.leases"
    printf 'Nov 20 10:00:00 old-build-host sshd[1]: Accepted publickey\n' > "$t/var/log/auth.log"
    echo "rm -rf /secret" > "$t/root/.bash_history"
    mkdir -p "$t/etc/udev/rules.d"
    echo 'SUBSYSTEM=="net", ATTR{address}=="52:54:00:aa:bb:cc", NAME="eth0"' > "$t/etc/udev/rules.d/70-persistent-net.rules"
    head -c 512 /dev/urandom > "$t/var/lib/systemd/random-seed"
    # Root can log in on the console (for debugging a failed proof by hand).
    chroot "$t" sh -c 'echo root:cloudseal | chpasswd'
}

# 3. A GPT disk with one ext4 root partition, as qcow2: the "base image" a maintainer starts from.
make_disk() {
    local img=$E2E/disk.raw
    rm -f "$img"
    truncate -s 3G "$img"
    local start=$((2048 * 512)) size
    size=$(( $(stat -c %s "$img") - start - 34 * 512 ))
    size=$(( size / 4096 * 4096 ))
    # mkfs first: it wipes signatures at the start of the file, the GPT would go with them.
    mkfs.ext4 -q -U "$ROOT_UUID" -L root -E offset=$start -d "$E2E/tree" "$img" $((size / 1024))k
    sgdisk -n 1:2048:$(( (start + size) / 512 - 1 )) -t 1:8304 -c 1:root -u 1:"$ROOT_PARTUUID" "$img" >/dev/null
    qemu-img convert -O qcow2 "$img" "$E2E/base.qcow2"
    rm -f "$img"
    cp "$E2E/tree/boot/"vmlinuz-* "$E2E/vmlinuz"
    cp "$E2E/tree/boot/"initrd.img-* "$E2E/initrd"
}

# 4. Boot an image and collect the CLOUDSEAL-CHECK lines from the serial console.
boot() {
    local image=$1 out=$2
    log "booting $(basename "$image") under TCG (about a minute)"
    : > "$out"
    timeout 480 qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 1024 -smp 2 \
        -nographic -no-reboot \
        -kernel "$E2E/vmlinuz" -initrd "$E2E/initrd" \
        -append "root=PARTUUID=$ROOT_PARTUUID ro console=ttyS0 quiet loglevel=1 cloudseal.check=1 panic=-1" \
        -drive file="$image",if=virtio,format=qcow2,snapshot=on \
        -nic user,model=virtio-net-pci \
        > "$out" 2>&1 < /dev/null &
    local qemu=$!
    # Stop early when the guest is stuck for good (initramfs shell, emergency mode).
    while kill -0 "$qemu" 2>/dev/null; do
        if grep -aqE 'Dropping to a shell|emergency mode|Kernel panic' "$out"; then
            log "guest is stuck: stopping qemu"; kill "$qemu" 2>/dev/null || true; break
        fi
        sleep 2
    done
    wait "$qemu" 2>/dev/null || true
}

# 5. Judge a boot log: exit 0 when the machine came up sealed-and-fresh.
judge() {
    local log=$1 fail=0
    grep -a '^CLOUDSEAL-CHECK' "$log" | tr -d '\r' > "$log.check" || true
    cat "$log.check" >&2
    grep -q 'CLOUDSEAL-CHECK done' "$log.check" || { log "no report: multi-user.target not reached"; return 1; }
    local mid
    mid=$(sed -n 's/^CLOUDSEAL-CHECK machine-id=//p' "$log.check")
    [[ "$mid" =~ ^[0-9a-f]{32}$ ]] || { log "machine-id is not a valid id: '$mid'"; fail=1; }
    [ "$mid" != "$ORIG_MACHINE_ID" ] || { log "machine-id was not regenerated"; fail=1; }
    grep -q 'CLOUDSEAL-CHECK sshd=active' "$log.check" || { log "sshd is not active"; fail=1; }
    grep -q 'CLOUDSEAL-CHECK hostkey=SHA256' "$log.check" || { log "no SSH host key"; fail=1; }
    for fp in $(cat "$E2E/orig-hostkeys" 2>/dev/null); do
        grep -q "hostkey=$fp" "$log.check" && { log "an original SSH host key is still there"; fail=1; }
    done
    grep -q 'CLOUDSEAL-CHECK ipv4=10\.0\.2\.' "$log.check" || { log "no address on the user-mode network"; fail=1; }
    grep -q 'CLOUDSEAL-CHECK ipv4-dynamic=[1-9]' "$log.check" || { log "the address did not come from DHCP"; fail=1; }
    return $fail
}

ROOT_UUID=0c5e5a1e-0000-4000-8000-0000000000e2
ROOT_PARTUUID=0c5e5a1e-0000-4000-8000-0000000000e3

prepare() {
    build_root
    used_vm_tree
    for k in "$E2E"/tree/etc/ssh/ssh_host_*_key.pub; do ssh-keygen -l -f "$k" | awk '{print $2}'; done > "$E2E/orig-hostkeys"
    make_disk
    log "base image: $E2E/base.qcow2"
}

# Boot IMAGE and require the judge's verdict: pass, or fail naming REASON.
expect() {
    local want=$1 image=$2 name=$3 reason=${4:-}
    local out=$E2E/$name.log verdict=0
    boot "$image" "$out"
    judge "$out" 2> "$out.verdict" || verdict=1
    cat "$out.verdict" >&2
    if [ "$want" = pass ]; then
        [ $verdict = 0 ] || die "$name: the sealed image did not pass the boot proof (log: $out)"
    else
        [ $verdict = 1 ] || die "$name: the judge passed an image that must fail (log: $out)"
        grep -q "$reason" "$out.verdict" || die "$name: failed, but not because \"$reason\" (log: $out)"
    fi
    log "$name: verdict as expected ($want${reason:+: $reason})"
}

all() {
    [ -x "$CLOUDSEAL" ] || die "$CLOUDSEAL is missing: run cargo build --release first"
    prepare
    local out=$E2E/out
    rm -rf "$out" && mkdir -p "$out"
    log "cloudseal build recipes/debian-12.toml"
    "$CLOUDSEAL" build recipes/debian-12.toml --var base="$E2E/base.qcow2" --var out="$out" \
        || die "cloudseal build failed"
    "$CLOUDSEAL" build scripts/e2e/debian-12-no-keygen.toml --var base="$E2E/base.qcow2" \
        --var out="$out" || die "cloudseal build (no keygen) failed"
    expect pass "$out/debian-12-sealed.qcow2" sealed
    expect fail "$E2E/base.qcow2" unsealed "machine-id was not regenerated"
    expect fail "$out/debian-12-no-keygen.qcow2" no-keygen "sshd is not active"
    log "PASS: the sealed image boots fresh; both controls fail as they must"
}

case "${1:-all}" in
    all) all ;;
    build) prepare ;;
    boot) boot "$2" "${3:-$E2E/boot.log}"; judge "${3:-$E2E/boot.log}" ;;
    judge) judge "$2" ;;
    *) die "usage: $0 all | build | boot IMAGE [LOG] | judge LOG" ;;
esac
