//! The build manifest: JSON next to the outputs saying what was built from what, every
//! change made, and every output's size and checksums. Apart from `timings`, two builds of
//! the same recipe from the same base give identical manifests.

use std::collections::BTreeMap;

use serde::Serialize;

use super::customize::StepReport;
use crate::seal::report::OpReport;

#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub cloudseal_version: &'static str,
    /// sha256 of the recipe file's bytes.
    pub recipe_sha256: String,
    /// Variables the recipe used, as resolved.
    pub vars: BTreeMap<String, String>,
    pub base: BaseEntry,
    /// Per customize step, the paths it changed.
    pub customize: Vec<StepReport>,
    /// Per sealing operation, the paths it changed.
    pub seal: Vec<OpReport>,
    pub outputs: Vec<OutputEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub glance: Option<GlanceEntry>,
    /// Seconds per stage; the only part that differs between identical builds.
    pub timings: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BaseEntry {
    pub source: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputEntry {
    /// File name (the manifest sits in the same directory).
    pub file: String,
    pub format: String,
    pub compression: String,
    pub size: u64,
    pub sha256: String,
    pub sha512: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct GlanceEntry {
    pub image_id: String,
    pub name: String,
}
