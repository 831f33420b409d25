#!/usr/bin/env bash
# Boot proof: build real Debian 12 and Debian 13 disks with debootstrap, leave host state on them
# like a used VM has, seal them with cloudseal, boot the results under qemu (TCG), and check on
# the serial console that each came up as a fresh machine: multi-user reached, a new
# machine-id, new SSH host keys with sshd active, and an address from DHCP.
#
#   scripts/e2e-boot.sh all                        build both, then the boots below (CI runs this)
#   scripts/e2e-boot.sh build [RELEASE]            only the base image of RELEASE (debian-12 or
#                                                  debian-13; default debian-12, also linked as
#                                                  $E2E_CACHE/base.qcow2)
#   scripts/e2e-boot.sh boot IMAGE [LOG [RELEASE]] boot one image (with RELEASE's kernel) and judge it
#   scripts/e2e-boot.sh judge LOG [guard|nocloud]  judge a boot log again
#
# `all` seals each base with plain `cloudseal seal` (defaults), builds recipes/debian-12.toml
# with `cloudseal build`, and boots; each verdict must be the expected one, or the proof fails:
#   Debian 12 sealed by the recipe                        -> PASS
#   Debian 12 and 13 sealed with defaults, no datasource  -> PASS (the ssh-hostkeys guard made
#                                                            the keys)
#   the same images with a NoCloud seed (vfat `cidata`)   -> PASS, cloud-init ran from the seed
#                                                            and made the keys; the guard was
#                                                            skipped
#   Debian 12 and 13 sealed with --no-ssh-keygen-guard    -> FAIL, sshd not active
#   the unsealed Debian 12 base                           -> FAIL, machine-id not regenerated
# The negative controls show the judge can fail, on the very things it checks.
#
# The debootstrap trees are cached in $E2E_CACHE (default target/e2e), one directory per
# release; needs root (debootstrap, chroot), qemu-system-x86_64, mkfs.vfat and mcopy.
set -euo pipefail
cd "$(dirname "$0")/.."
E2E=${E2E_CACHE:-$PWD/target/e2e}
CLOUDSEAL=${CLOUDSEAL:-$PWD/target/release/cloudseal}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ORIG_MACHINE_ID=0123456789abcdef0123456789abcdef
# The NoCloud seed's identity: the judge checks the guest took it.
SEED_INSTANCE=iid-cloudseal-e2e
SEED_HOSTNAME=cloudseal-nocloud
mkdir -p "$E2E"

log() { echo "e2e: $*" >&2; }
die() { echo "e2e: FAIL: $*" >&2; exit 1; }
for t in debootstrap qemu-system-x86_64 sgdisk mkfs.ext4 qemu-img mkfs.vfat mcopy; do
    command -v "$t" >/dev/null || die "required tool $t is missing (see .ci/packages.txt)"
done

# 1. A Debian root with systemd, openssh-server, systemd-networkd, cloud-init and a kernel.
# debootstrap does not resolve virtual packages: python3-cryptography (for cloud-init) needs
# python3-cffi-backend-api-*, which only python3-cffi-backend provides, so it is named.
PACKAGES=systemd-sysv,openssh-server,linux-image-cloud-amd64,iproute2,udev,dbus,ifupdown,cloud-init,python3-cffi-backend

suite() {
    case $1 in
        debian-12) echo bookworm ;;
        debian-13) echo trixie ;;
        *) die "unknown release $1 (debian-12 or debian-13)" ;;
    esac
}

build_root() {
    local rel=$1 dir=$E2E/$1 suite stamp
    suite=$(suite "$rel")
    stamp="$suite $PACKAGES"
    # The stamp holds what the tree was made from: a changed package list rebuilds it.
    if [ "$(cat "$dir/root.done" 2>/dev/null)" = "$stamp" ]; then return; fi
    mkdir -p "$dir"
    rm -rf "$dir/root"
    log "debootstrap $suite (a few minutes)"
    debootstrap --variant=minbase --include="$PACKAGES" \
        "$suite" "$dir/root" "$MIRROR" > "$dir/debootstrap.log" 2>&1 \
        || { tail -20 "$dir/debootstrap.log"; die "debootstrap $suite failed"; }
    echo "$stamp" > "$dir/root.done"
}

# 2. Make it look like a VM that has run: configuration plus host state.
used_vm_tree() {
    local t=$E2E/$1/tree
    rm -rf "$t"
    cp -a "$E2E/$1/root" "$t"
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
    local dir=$E2E/$1
    local img=$dir/disk.raw
    rm -f "$img"
    truncate -s 3G "$img"
    local start=$((2048 * 512)) size
    size=$(( $(stat -c %s "$img") - start - 34 * 512 ))
    size=$(( size / 4096 * 4096 ))
    # mkfs first: it wipes signatures at the start of the file, the GPT would go with them.
    mkfs.ext4 -q -U "$ROOT_UUID" -L root -E offset=$start -d "$dir/tree" "$img" $((size / 1024))k
    sgdisk -n 1:2048:$(( (start + size) / 512 - 1 )) -t 1:8304 -c 1:root -u 1:"$ROOT_PARTUUID" "$img" >/dev/null
    qemu-img convert -O qcow2 "$img" "$dir/base.qcow2"
    rm -f "$img"
    cp "$dir/tree/boot/"vmlinuz-* "$dir/vmlinuz"
    cp "$dir/tree/boot/"initrd.img-* "$dir/initrd"
}

# A NoCloud seed disk: a vfat filesystem labelled CIDATA holding meta-data, user-data and
# network-config. The image keeps its own network (systemd-networkd) and its disk size, so
# cloud-init's failures at those (ifupdown without a DHCP client it knows, resize2fs of a root
# mounted read-only) do not litter the report.
make_seed() {
    local seed=$E2E/nocloud-seed.img d=$E2E/seed
    rm -rf "$seed" "$d" && mkdir -p "$d"
    printf 'instance-id: %s\nlocal-hostname: %s\n' "$SEED_INSTANCE" "$SEED_HOSTNAME" > "$d/meta-data"
    printf '#cloud-config\nresize_rootfs: false\ngrowpart:\n  mode: "off"\n' > "$d/user-data"
    printf 'config: disabled\n' > "$d/network-config"
    mkfs.vfat -n CIDATA -C "$seed" 2048 >/dev/null
    mcopy -i "$seed" "$d/meta-data" "$d/user-data" "$d/network-config" ::
}

# 4. Boot an image and collect the CLOUDSEAL-CHECK lines from the serial console.
# RELEASE's kernel boots the image; SEED (a file) is attached as a second disk.
boot() {
    local image=$1 out=$2 rel=${3:-debian-12} seed=${4:-}
    local kdir=$E2E/$rel
    local seed_drive=()
    [ -n "$seed" ] && seed_drive=(-drive file="$seed",if=virtio,format=raw,readonly=on)
    log "booting $(basename "$image")${seed:+ with the NoCloud seed} under TCG (a minute or two)"
    : > "$out"
    timeout 480 qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 1024 -smp 2 \
        -nographic -no-reboot \
        -kernel "$kdir/vmlinuz" -initrd "$kdir/initrd" \
        -append "root=PARTUUID=$ROOT_PARTUUID ro console=ttyS0 quiet loglevel=1 cloudseal.check=1 panic=-1" \
        -drive file="$image",if=virtio,format=qcow2,snapshot=on "${seed_drive[@]}" \
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

# 5. Judge a boot log: exit 0 when the machine came up sealed-and-fresh. With `guard`, also
# that the ssh-hostkeys guard made the keys; with `nocloud`, that cloud-init took its identity
# from the seed and the guard stood aside.
judge() {
    local log=$1 mode=${2:-} fail=0
    grep -a '^CLOUDSEAL-CHECK' "$log" | tr -d '\r' > "$log.check" || true
    cat "$log.check" >&2
    grep -q 'CLOUDSEAL-CHECK done' "$log.check" || { log "no report: multi-user.target not reached"; return 1; }
    local mid
    mid=$(sed -n 's/^CLOUDSEAL-CHECK machine-id=//p' "$log.check")
    [[ "$mid" =~ ^[0-9a-f]{32}$ ]] || { log "machine-id is not a valid id: '$mid'"; fail=1; }
    [ "$mid" != "$ORIG_MACHINE_ID" ] || { log "machine-id was not regenerated"; fail=1; }
    grep -q 'CLOUDSEAL-CHECK sshd=active' "$log.check" || { log "sshd is not active"; fail=1; }
    grep -q 'CLOUDSEAL-CHECK hostkey=SHA256' "$log.check" || { log "no SSH host key"; fail=1; }
    for fp in $(cat "$E2E"/*/orig-hostkeys 2>/dev/null); do
        grep -q "hostkey=$fp" "$log.check" && { log "an original SSH host key is still there"; fail=1; }
    done
    grep -q 'CLOUDSEAL-CHECK ipv4=10\.0\.2\.' "$log.check" || { log "no address on the user-mode network"; fail=1; }
    grep -q 'CLOUDSEAL-CHECK ipv4-dynamic=[1-9]' "$log.check" || { log "the address did not come from DHCP"; fail=1; }
    if [ "$mode" = guard ]; then
        grep -q 'CLOUDSEAL-CHECK keygen-guard=loaded/ran' "$log.check" \
            || { log "the ssh-hostkeys guard did not make the keys"; fail=1; }
    fi
    if [ "$mode" = nocloud ]; then
        grep -q "CLOUDSEAL-CHECK cloud-init-instance=$SEED_INSTANCE\$" "$log.check" \
            || { log "cloud-init did not take the NoCloud seed"; fail=1; }
        grep -q "CLOUDSEAL-CHECK hostname=$SEED_HOSTNAME\$" "$log.check" \
            || { log "the hostname is not the seed's"; fail=1; }
        # Keys made by cloud-init, before the guard: its condition found them and skipped it.
        grep -q 'CLOUDSEAL-CHECK keygen-guard=loaded/skipped' "$log.check" \
            || { log "the ssh-hostkeys guard did not stand aside for cloud-init"; fail=1; }
    fi
    return $fail
}

ROOT_UUID=0c5e5a1e-0000-4000-8000-0000000000e2
ROOT_PARTUUID=0c5e5a1e-0000-4000-8000-0000000000e3

prepare() {
    local rel=$1
    build_root "$rel"
    used_vm_tree "$rel"
    for k in "$E2E/$rel"/tree/etc/ssh/ssh_host_*_key.pub; do ssh-keygen -l -f "$k" | awk '{print $2}'; done > "$E2E/$rel/orig-hostkeys"
    make_disk "$rel"
    rm -rf "$E2E/$rel/tree"
    log "base image: $E2E/$rel/base.qcow2"
}

# Where demo.sh and the recipe proof look for the Debian 12 base.
link_base() {
    ln -sfn debian-12/base.qcow2 "$E2E/base.qcow2"
}

TIMES=()
# Boot IMAGE with RELEASE's kernel (and the NoCloud seed when MODE is `nocloud`), judge it in
# MODE (`-`: the common checks only) and require the verdict: pass, or fail naming REASON.
expect() {
    local rel=$1 mode=$2 want=$3 image=$4 name=$5 reason=${6:-}
    local out=$E2E/out/$name.log verdict=0 t0=$SECONDS
    local seedfile=
    if [ "$mode" = nocloud ]; then seedfile=$E2E/nocloud-seed.img; fi
    boot "$image" "$out" "$rel" "$seedfile"
    judge "$out" "$mode" 2> "$out.verdict" || verdict=1
    cat "$out.verdict" >&2
    if [ "$want" = pass ]; then
        [ $verdict = 0 ] || die "$name: the sealed image did not pass the boot proof (log: $out)"
    else
        [ $verdict = 1 ] || die "$name: the judge passed an image that must fail (log: $out)"
        grep -q "$reason" "$out.verdict" || die "$name: failed, but not because \"$reason\" (log: $out)"
    fi
    TIMES+=("$(printf '%-28s %4ss  %s' "$name" $((SECONDS - t0)) "$want${reason:+: $reason}")")
    log "$name: verdict as expected ($want${reason:+: $reason})"
}

all() {
    [ -x "$CLOUDSEAL" ] || die "$CLOUDSEAL is missing: run cargo build --release first"
    local t0=$SECONDS rel out=$E2E/out
    # The two debootstraps are mostly downloads: side by side.
    local pids=()
    for rel in debian-12 debian-13; do build_root "$rel" & pids+=($!); done
    for p in "${pids[@]}"; do wait "$p" || die "debootstrap failed"; done
    for rel in debian-12 debian-13; do prepare "$rel"; done
    link_base
    make_seed
    TIMES+=("$(printf '%-28s %4ss' "prepare (both releases)" $((SECONDS - t0)))")
    rm -rf "$out" && mkdir -p "$out"
    t0=$SECONDS
    log "cloudseal build recipes/debian-12.toml"
    "$CLOUDSEAL" build recipes/debian-12.toml --var base="$E2E/debian-12/base.qcow2" --var out="$out" \
        || die "cloudseal build failed"
    for rel in debian-12 debian-13; do
        log "cloudseal seal $rel (defaults, and --no-ssh-keygen-guard)"
        "$CLOUDSEAL" seal "$E2E/$rel/base.qcow2" -o "$out/$rel-defaults.qcow2" \
            || die "cloudseal seal $rel failed"
        "$CLOUDSEAL" seal --no-ssh-keygen-guard "$E2E/$rel/base.qcow2" -o "$out/$rel-no-guard.qcow2" \
            || die "cloudseal seal --no-ssh-keygen-guard $rel failed"
    done
    TIMES+=("$(printf '%-28s %4ss' "build + 4 seals" $((SECONDS - t0)))")
    expect debian-12 guard pass "$out/debian-12-sealed.qcow2" debian-12-recipe
    for rel in debian-12 debian-13; do
        expect "$rel" guard pass "$out/$rel-defaults.qcow2" "$rel-defaults"
        expect "$rel" nocloud pass "$out/$rel-defaults.qcow2" "$rel-defaults-nocloud"
        expect "$rel" - fail "$out/$rel-no-guard.qcow2" "$rel-no-guard" "sshd is not active"
    done
    expect debian-12 - fail "$E2E/debian-12/base.qcow2" debian-12-unsealed "machine-id was not regenerated"
    printf 'e2e: %s\n' "${TIMES[@]}" >&2
    log "PASS: the sealed images boot fresh, with and without a datasource; the controls fail as they must"
}

case "${1:-all}" in
    all) all ;;
    build)
        prepare "${2:-debian-12}"
        if [ "${2:-debian-12}" = debian-12 ]; then link_base; fi ;;
    boot) boot "$2" "${3:-$E2E/boot.log}" "${4:-debian-12}"; judge "${3:-$E2E/boot.log}" ;;
    judge) judge "$2" "${3:-}" ;;
    *) die "usage: $0 all | build [RELEASE] | boot IMAGE [LOG [RELEASE]] | judge LOG [guard|nocloud]" ;;
esac
