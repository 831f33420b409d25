//! cloudseal: build and seal cloud images.
//!
//! Dependency rule, one way only:
//! `recipe -> pipeline -> inspect -> {seal, output, glance} -> fs -> part -> disk`.
//!
//! `unsafe` is denied everywhere except the two modules that call into the system:
//! the libext2fs shim (`fs::ext4::ffi`) and the loop/FITRIM ioctls (`fs::mount::sys`).

#![deny(unsafe_code)]

pub mod digest;
pub mod disk;
pub mod fs;
pub mod glance;
pub mod inspect;
pub mod output;
pub mod part;
pub mod pipeline;
pub mod progress;
pub mod recipe;
pub mod seal;
pub mod units;
