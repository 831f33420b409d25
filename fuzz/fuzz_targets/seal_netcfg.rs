//! The network config editors of the seal operations, on arbitrary guest text: netplan YAML,
//! systemd-networkd units, ifupdown, KEY=value files. They must never panic, and an edit
//! they return for netplan must parse again.
#![no_main]

use cloudseal::seal::netcfg::{ifupdown, keyfile, netplan, networkd};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Some((out, _))) = netplan::drop_macaddress(text) {
        assert!(netplan::drop_macaddress(&out).is_ok(), "edit does not re-parse: {out:?}");
    }
    let _ = netplan::static_to_dhcp(text);
    let _ = netplan::static_ids(text);
    let _ = networkd::drop_mac(text, "Name");
    let _ = ifupdown::drop_hwaddress(text);
    let _ = keyfile::drop_keys(text, &|_, k| k == "HWADDR");
});
