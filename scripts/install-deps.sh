#!/usr/bin/env bash
# Install the Debian packages that building, testing and the boot proof need (.ci/packages.txt).
#
# Idempotent, and right on both states a machine of this project's kind can be in:
# - fresh: Debian 12 with qemu-utils 10.0 preinstalled from bookworm-backports but no backports
#   source, so bookworm's qemu-system-x86 (7.2) cannot be installed beside it (its
#   qemu-system-common would have to match a qemu-utils that is not there);
# - set up by hand earlier: backports present, qemu-system-x86 maybe installed already.
# The qemu system emulator is therefore installed at exactly the installed qemu-utils version,
# from whichever suite that version comes from. debian.sources is never edited: backports is
# added as its own file.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }

backports=/etc/apt/sources.list.d/cloudseal-bookworm-backports.sources
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ "$codename" = bookworm ] && ! grep -qs 'bookworm-backports' /etc/apt/sources.list \
    /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then
    echo "install-deps: adding bookworm-backports as $backports"
    cat >"$backports" <<'EOF'
# Added by cloudseal's scripts/install-deps.sh: qemu-system-x86 must match the backports
# qemu-utils this kind of machine ships with.
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi
apt-get update -qq

# Everything but the emulator, at the versions apt picks (an installed qemu-utils stays).
# shellcheck disable=SC2046
apt_install $(grep -v '^#' .ci/packages.txt | grep -vx 'qemu-system-x86')

# The emulator at the installed qemu-utils version; its dependencies come from the same suite.
qver=$(dpkg-query -W -f='${Version}' qemu-utils)
case "$qver" in
*~bpo*) target=(-t "$codename-backports") ;;
*) target=() ;;
esac
have=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' qemu-system-x86 2>/dev/null || true)
if [ "$have" != "ii  $qver" ]; then
    echo "install-deps: installing qemu-system-x86 $qver ${target[*]}"
    apt_install "${target[@]}" "qemu-system-x86=$qver"
fi
got=$(dpkg-query -W -f='${Version}' qemu-system-x86)
if [ "$got" != "$qver" ]; then
    echo "install-deps: qemu-system-x86 is $got but qemu-utils is $qver" >&2
    exit 1
fi
