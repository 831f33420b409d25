//! dhcp-client-state, dhcp-server-state.

use super::GlobOp;

pub static DHCP_CLIENT_STATE: GlobOp = GlobOp {
    name: "dhcp-client-state",
    summary: "Remove DHCP client leases (and NetworkManager's per-host secret key)",
    default: true,
    trees: &[
        // virt-sysprep's: dhclient on Red Hat, and on Debian.
        "/var/lib/dhclient/*",
        "/var/lib/dhcp/*",
        // NetworkManager's internal client and dhclient, dhcpcd, wicked, networkd.
        "/var/lib/NetworkManager/*.lease",
        "/var/lib/NetworkManager/*.leases",
        "/var/lib/NetworkManager/dhclient-*",
        "/var/lib/dhcpcd/*",
        "/var/lib/dhcpcd5/*",
        "/var/lib/wicked/lease-*",
        "/var/lib/systemd/netif/leases/*",
        // NetworkManager's per-host key (stable-privacy IPv6 addresses, stable MACs, DUIDs).
        "/var/lib/NetworkManager/secret_key",
    ],
    files: &[],
};

pub static DHCP_SERVER_STATE: GlobOp = GlobOp {
    name: "dhcp-server-state",
    summary: "Remove DHCP server leases",
    default: true,
    trees: &["/var/lib/dhcpd/*"],
    files: &[],
};
