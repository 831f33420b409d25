//! One integration-test binary; each module tests one area against real tools and fixtures.

mod cli_docs;
mod disk;
mod ext4;
mod fixtures;
mod fixtures_mount;
mod glance;
mod inspect;
mod mount;
mod mount_guests;
mod names;
mod output;
mod recipe;
mod repo;
mod reproducible;
mod seal;
mod seal_ops;
mod ssh_guard;
mod util;
mod vfat;
