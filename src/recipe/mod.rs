//! Build recipes (TOML): a base image, customize steps, sealing, outputs and an optional
//! Glance upload, checked as a whole before any work starts.

pub mod build;
pub mod customize;
pub mod fetch;
pub mod load;
pub mod manifest;
pub mod problem;
pub mod schema;
pub mod validate;
pub mod vars;

pub use load::{Loaded, load, load_strict, parse};
pub use problem::{Problem, RecipeErrors};
pub use schema::{Recipe, Step};
pub use vars::VarSource;
