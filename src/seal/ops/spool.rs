//! mail-spool, cron-spool.

use crate::fs::{FileKind, FsError, GuestFs, OsInfo};
use crate::seal::{Action, SealOp, SealOptions};

use super::paths;

pub static MAIL_SPOOL: SealOp = SealOp {
    name: "mail-spool",
    summary: "Remove email from the local mail spool directory",
    default: true,
    trees: &["/var/spool/mail/*", "/var/mail/*"],
    files: &[],
    ..SealOp::NONE
};

/// cron-spool: user crontabs and at jobs; at's `.SEQ` job counters are reset, not removed.
const SEQ_FILES: &[&str] = &[
    "/var/spool/cron/atjobs/.SEQ",
    "/var/spool/atjobs/.SEQ",
    "/var/spool/at/.SEQ",
];
const SEQ_RESET: &[u8] = b"00000\n";

pub static CRON_SPOOL: SealOp = SealOp {
    name: "cron-spool",
    summary: "Remove user at-jobs and cron-jobs",
    default: true,
    plan: Some(plan_cron_spool),
    ..SealOp::NONE
};

fn plan_cron_spool(
    fs: &dyn GuestFs,
    _os: &OsInfo,
    _opts: &SealOptions,
) -> Result<Vec<Action>, FsError> {
    let is_seq = |name: &str| name == ".SEQ";
    let mut v = paths::remove_files_below(fs, "/var/spool/cron", &is_seq)?;
    v.extend(paths::remove_file_globs(
        fs,
        &["/var/spool/atjobs/*", "/var/spool/atspool/*"],
    )?);
    v.extend(paths::remove_files_below(fs, "/var/spool/at", &is_seq)?);
    for seq in SEQ_FILES {
        if paths::kind(fs, seq)? == Some(FileKind::File) && fs.read_file(seq, 4096)? != SEQ_RESET {
            v.push(Action::Write {
                path: seq.to_string(),
                content: SEQ_RESET.to_vec(),
                note: "at job counter reset".into(),
            });
        }
    }
    Ok(paths::sorted(v))
}
