//! The ssh-hostkeys guard (issue 12): a default seal of a guest where nothing recreates missing
//! host keys at every boot installs a unit that does; `--no-ssh-keygen-guard` on `seal` and
//! `build`, and `no-ssh-keygen-guard` in a recipe's `[seal.options]`, leave it out. The
//! fixture guest has cloud-init but no sshd-keygen unit.

use std::path::Path;

use crate::util::{cloudseal, fixture, run, tempdir};

// `seal --dry-run` prints "would ssh-hostkeys: create PATH: NOTE", `build --dry-run` "seal
// ssh-hostkeys: would create PATH".
const CREATE: &str = "create /etc/systemd/system/cloudseal-ssh-keygen.service";
const LINK: &str =
    "symlink /etc/systemd/system/multi-user.target.wants/cloudseal-ssh-keygen.service";
const REPORT: &str = "report /etc/ssh";
const WARNING: &str = "only cloud-init recreates the host keys, and only when it finds a \
                       datasource: without one sshd will not start";

/// stdout of a successful command.
fn ok(cmd: &mut std::process::Command) -> String {
    let o = run(cmd);
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The guard is planned (and the warning is not), or the other way round.
fn assert_guard(plan: &str, guard: bool) {
    assert_eq!(plan.contains(CREATE), guard, "{plan}");
    assert_eq!(plan.contains(LINK), guard, "{plan}");
    assert_eq!(plan.contains(REPORT), !guard, "{plan}");
}

#[test]
fn seal_dry_run_plans_the_guard_unless_told_not_to() {
    let input = fixture("disks/bare-ext4.raw");
    let plan = ok(cloudseal().args(["seal", "--dry-run"]).arg(&input));
    assert_guard(&plan, true);
    assert!(
        plan.contains(" -> /etc/systemd/system/cloudseal-ssh-keygen.service"),
        "{plan}"
    );
    let plan = ok(cloudseal()
        .args(["seal", "--dry-run", "--no-ssh-keygen-guard"])
        .arg(&input));
    assert_guard(&plan, false);
    assert!(plan.contains(WARNING), "{plan}");
}

fn recipe(dir: &Path, options: &str) -> std::path::PathBuf {
    let text = format!(
        "[base]\npath = \"{}\"\n\n[seal]\noperations = \"ssh-hostkeys\"\n{options}\n\
         [[output]]\npath = \"{}/out.qcow2\"\n",
        fixture("disks/gpt.qcow2").display(),
        dir.display()
    );
    let p = dir.join(format!("r{}.toml", options.len()));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn build_plans_the_guard_unless_the_recipe_or_the_flag_turns_it_off() {
    let t = tempdir();
    let dry = |recipe: &Path, args: &[&str]| {
        ok(cloudseal()
            .args(["build", "--dry-run"])
            .args(args)
            .arg(recipe))
    };
    let plain = recipe(t.path(), "");
    assert_guard(&dry(&plain, &[]), true);
    assert_guard(&dry(&plain, &["--no-ssh-keygen-guard"]), false);
    let off = recipe(t.path(), "\n[seal.options]\nno-ssh-keygen-guard = true\n");
    assert_guard(&dry(&off, &[]), false);
    // The key is checked like every other: a typo is an error, not a silent default.
    let typo = recipe(t.path(), "\n[seal.options]\nno-ssh-keygen-gaurd = true\n");
    let o = run(cloudseal().args(["recipe", "check"]).arg(&typo));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no-ssh-keygen-gaurd"), "{err}");
}

#[test]
fn inspect_lists_the_keys_as_host_state_not_the_guard() {
    let out = ok(cloudseal()
        .arg("inspect")
        .arg(fixture("disks/bare-ext4.raw")));
    assert!(out.contains("ssh-hostkeys (6)"), "{out}");
    assert!(!out.contains("cloudseal-ssh-keygen"), "{out}");
}
