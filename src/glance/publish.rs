//! Register a file as an image, from the settings records: what `upload`, `seal --upload` and
//! a recipe's `[glance]` all do.

use std::path::Path;

use super::GlanceError;
use super::settings::{Auth, ImageOptions};
use super::upload::{UploadOptions, UploadOutcome, upload_file};
use crate::digest::Digests;
use crate::progress::ProgressSink;

/// Log in as `auth` says (over clouds.yaml or `env`'s OS_* variables), then create the image
/// `image` describes from `file`, upload it, wait for it and verify it. `known` are the hashes
/// the output writer computed, if any; `progress` hears the bytes sent.
pub fn publish(
    auth: &Auth,
    image: &ImageOptions,
    options: &UploadOptions,
    file: &Path,
    known: Option<&Digests>,
    env: &dyn Fn(&str) -> Option<String>,
    progress: &dyn ProgressSink,
) -> Result<UploadOutcome, GlanceError> {
    let Some(name) = image.name.as_deref().filter(|n| !n.is_empty()) else {
        return Err(GlanceError::Config(
            "--name is required to upload to glance".into(),
        ));
    };
    let client = auth.connect(env)?;
    let spec = image.spec(name);
    let mut started = false;
    let out = upload_file(&client, file, &spec, options, known, &mut |done, total| {
        if !started {
            progress.start(&format!("uploading {}", file.display()), total);
            started = true;
        }
        progress.set_position(done);
    });
    if started {
        progress.finish();
    }
    out
}
