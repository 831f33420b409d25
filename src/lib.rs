//! cloudseal: build and seal cloud images.
//!
//! Dependency rule, one way only:
//! `recipe -> {seal, sparsify, output, glance} -> fs -> part -> disk`.

pub mod disk;
pub mod fs;
pub mod glance;
pub mod image;
pub mod output;
pub mod part;
pub mod progress;
pub mod recipe;
pub mod seal;
pub mod sparsify;
