//! dhcp-client-state, dhcp-server-state.

use super::GlobOp;

pub static DHCP_CLIENT_STATE: GlobOp = GlobOp {
    name: "dhcp-client-state",
    summary: "Remove DHCP client leases",
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
