//! Man pages, shell completions and `--help`, generated from the clap definitions, checked
//! with the tools that read them (man, bash, zsh, fish).

use std::collections::BTreeSet;
use std::process::Command;

use crate::util::{cloudseal, require_tool, run, run_ok, tempdir};

/// Every subcommand path (`["seal"]`, `["images", "list"]`, ...), read from `--help` itself.
fn subcommands(prefix: &[String]) -> Vec<Vec<String>> {
    let help = run_ok(cloudseal().args(prefix).arg("--help"));
    let mut found = Vec::new();
    let mut in_commands = false;
    for line in help.lines() {
        if line == "Commands:" {
            in_commands = true;
            continue;
        }
        if in_commands {
            if !line.starts_with("  ") {
                break;
            }
            let name = line.split_whitespace().next().unwrap();
            if line.starts_with("  ") && !line.starts_with("   ") && name != "help" {
                let mut path = prefix.to_vec();
                path.push(name.to_string());
                found.extend(subcommands(&path));
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn every_subcommand_has_a_man_page_that_man_renders() {
    require_tool("man");
    let dir = tempdir();
    let man1 = dir.path().join("man1");
    run_ok(cloudseal().args(["generate", "man"]).arg(&man1));
    let pages: BTreeSet<String> = std::fs::read_dir(&man1)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let subs = subcommands(&[]);
    assert!(subs.len() >= 10, "too few subcommands found: {subs:?}");
    assert!(pages.contains("cloudseal.1"));
    for s in &subs {
        let page = format!("cloudseal-{}.1", s.join("-"));
        assert!(pages.contains(&page), "no man page {page} (have {pages:?})");
    }
    assert_eq!(
        pages.len(),
        subs.len() + 1,
        "pages without a subcommand: {pages:?}"
    );
    // `man cloudseal-seal` through MANPATH, as a user who installed the pages would run it.
    let out = run_ok(
        Command::new("man")
            .env("MANPATH", dir.path())
            .env("MANWIDTH", "100")
            .args(["-P", "cat", "cloudseal-seal"]),
    );
    assert!(
        out.contains("--operations"),
        "man cloudseal-seal lacks --operations:\n{out}"
    );
    assert!(out.contains("cloudseal-seal"), "{out}");
}

#[test]
fn help_lines_fit_100_columns() {
    let mut paths = subcommands(&[]);
    paths.push(vec![]);
    for p in paths {
        for flag in ["-h", "--help"] {
            let help = run_ok(cloudseal().args(&p).arg(flag).env_remove("COLUMNS"));
            for line in help.lines() {
                assert!(
                    line.chars().count() <= 100,
                    "`cloudseal {} {flag}` has a line of {} columns:\n{line}",
                    p.join(" "),
                    line.chars().count()
                );
            }
        }
    }
}

#[test]
fn completions_load_in_bash_zsh_and_fish() {
    for tool in ["bash", "zsh", "fish"] {
        require_tool(tool);
    }
    let dir = tempdir();
    for shell in ["bash", "zsh", "fish"] {
        let script = run_ok(cloudseal().args(["generate", "completions", shell]));
        assert!(
            script.contains("seal"),
            "{shell} completion names no subcommand"
        );
        std::fs::write(dir.path().join(shell), &script).unwrap();
    }
    // bash: sourcing registers the completion function for cloudseal, and it completes `se`.
    let bash = dir.path().join("bash");
    let out = run_ok(Command::new("bash").arg("-c").arg(format!(
        "source '{}' && complete -p cloudseal && COMP_WORDS=(cloudseal se) COMP_CWORD=1 \
         COMP_LINE='cloudseal se' COMP_POINT=12 && _cloudseal cloudseal se cloudseal && \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        bash.display()
    )));
    assert!(out.contains("-F _cloudseal cloudseal"), "{out}");
    assert!(
        out.lines().any(|l| l == "seal"),
        "bash did not complete `se` to seal: {out}"
    );
    // zsh and fish: the scripts parse.
    for (shell, args) in [("zsh", ["-n"]), ("fish", ["--no-execute"])] {
        let out = run(Command::new(shell).args(args).arg(dir.path().join(shell)));
        assert!(
            out.status.success(),
            "{shell} rejects its completion script: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
