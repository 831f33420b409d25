//! dhcp-client-state, dhcp-server-state.

use crate::seal::SealOp;

pub static DHCP_CLIENT_STATE: SealOp = SealOp {
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
    ..SealOp::NONE
};

pub static DHCP_SERVER_STATE: SealOp = SealOp {
    name: "dhcp-server-state",
    summary: "Remove DHCP server leases",
    default: true,
    trees: &["/var/lib/dhcpd/*"],
    files: &[],
    ..SealOp::NONE
};
