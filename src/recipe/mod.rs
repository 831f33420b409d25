//! Build recipes (TOML): a base image, customize steps, sealing, outputs and an optional
//! Glance upload, checked as a whole before any work starts.

pub mod build;
pub mod check;
pub mod customize;
pub mod fetch;
pub mod manifest;
pub mod schema;
pub mod validate;
pub mod vars;

pub use check::{Loaded, Problem, RecipeErrors, load, load_strict, parse};
pub use schema::{Recipe, Step};
pub use vars::VarSource;
