//! GUID partition tables, through the `gpt` crate.
