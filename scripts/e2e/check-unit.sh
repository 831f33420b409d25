#!/bin/sh
# Runs inside the booted guest (planted by scripts/e2e-boot.sh, enabled only when the kernel
# command line has cloudseal.check=1): reports what the boot proof checks on the serial
# console, then powers off.
say() { printf '\nCLOUDSEAL-CHECK %s\n' "$*" > /dev/ttyS0; }
# Give sshd and DHCP up to 90 s (TCG is slow); stop waiting for an sshd that failed for good
# (its restarts exhausted).
i=0
while [ $i -lt 90 ]; do
    ip -4 -o addr show scope global | grep -q inet \
        && { systemctl is-active -q ssh || systemctl is-failed -q ssh; } && break
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
say "hostname=$(hostname)"
# Set only when cloud-init found a datasource (the NoCloud seed).
say "cloud-init-instance=$(cat /var/lib/cloud/data/instance-id 2>/dev/null)"
# The ssh-hostkeys guard: ran (it made the keys), skipped (its condition found a key), or
# not there.
u=cloudseal-ssh-keygen.service
load=$(systemctl show -p LoadState --value $u)
if [ "$load" != loaded ]; then g=$load
elif [ "$(systemctl show -p ConditionTimestampMonotonic --value $u)" = 0 ]; then g=loaded/not-started
elif [ "$(systemctl show -p ConditionResult --value $u)" = yes ]; then g=loaded/ran
else g=loaded/skipped
fi
say "keygen-guard=$g"
say "failed-units=$(systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')"
say "done"
systemctl poweroff
