//! Build recipes (TOML) and running them.
