//! The registry of sealing operations, one file per group.

use super::SealOp;

/// Every operation, in the order they run.
pub static REGISTRY: &[&dyn SealOp] = &[];

/// Look an operation up by name.
pub fn find(name: &str) -> Option<&'static dyn SealOp> {
    REGISTRY.iter().copied().find(|op| op.name() == name)
}
