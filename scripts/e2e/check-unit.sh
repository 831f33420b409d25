#!/bin/sh
# Runs inside the booted guest (planted by scripts/e2e-boot.sh, enabled only when the kernel
# command line has cloudseal.check=1): reports what the boot proof checks on the serial
# console, then powers off.
say() { printf '\nCLOUDSEAL-CHECK %s\n' "$*" > /dev/ttyS0; }
# Give sshd and DHCP up to 90 s (TCG is slow).
i=0
while [ $i -lt 90 ]; do
    ip -4 -o addr show scope global | grep -q inet && systemctl is-active -q ssh && break
    sleep 1; i=$((i + 1))
done
say "machine-id=$(cat /etc/machine-id)"
say "sshd=$(systemctl is-active ssh)"
for k in /etc/ssh/ssh_host_*_key.pub; do
    [ -f "$k" ] && say "hostkey=$(ssh-keygen -l -f "$k" | awk '{print $2}')"
done
say "ipv4=$(ip -4 -o addr show scope global | awk '{print $4}' | head -n1)"
# "dynamic" marks an address that came from a DHCP lease.
say "ipv4-dynamic=$(ip -4 -o addr show scope global | grep -c dynamic)"
say "failed-units=$(systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')"
say "done"
systemctl poweroff
