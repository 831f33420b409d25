//! Selection: virt-sysprep's --operations semantics, --enable, --disable.

use super::*;

fn names(sel: &Selection) -> Vec<&'static str> {
    sel.resolve()
        .expect("resolve")
        .iter()
        .map(|o| o.name())
        .collect()
}

#[test]
fn selection_semantics() {
    let defaults = names(&Selection::defaults());
    assert!(defaults.contains(&"tmp-files") && !defaults.contains(&"firewall-rules"));
    // The first --operations starts from nothing.
    assert_eq!(
        names(&Selection::defaults().operations("tmp-files,machine-id")),
        ["machine-id", "tmp-files"]
    );
    // defaults / all / -name.
    let s = names(&Selection::defaults().operations("firewall-rules,defaults,-tmp-files"));
    assert!(
        s.contains(&"firewall-rules") && !s.contains(&"tmp-files") && s.contains(&"machine-id")
    );
    assert_eq!(
        names(&Selection::defaults().operations("all")).len(),
        seal::ops::REGISTRY.len()
    );
    assert_eq!(
        names(&Selection::defaults().operations("all,-defaults")),
        [
            "ca-certificates",
            "firewall-rules",
            "flag-reconfiguration",
            "kerberos-data",
            "user-account"
        ]
    );
    // A later --operations changes the set so far.
    assert_eq!(
        names(
            &Selection::defaults()
                .operations("machine-id")
                .operations("tmp-files,-machine-id")
        ),
        ["tmp-files"]
    );
    // --enable adds to the defaults (unlike virt-sysprep's alias of --operations), or to
    // the set so far; --disable starts from the defaults.
    let e = names(&Selection::defaults().enable("user-account"));
    assert_eq!(e.len(), defaults.len() + 1);
    assert!(e.contains(&"user-account") && e.contains(&"ssh-hostkeys"));
    assert_eq!(
        names(&Selection::defaults().operations("utmp").enable("tmp-files")),
        ["tmp-files", "utmp"]
    );
    let d = names(&Selection::defaults().disable("tmp-files,logfiles"));
    assert_eq!(d.len(), defaults.len() - 2);
    assert!(!d.contains(&"tmp-files"));
    assert_eq!(
        names(&Selection::defaults().operations("utmp").disable("utmp")),
        Vec::<&str>::new()
    );
    // virt-sysprep's non-file operations: removing is fine, asking for one is not.
    assert_eq!(
        names(&Selection::defaults().operations("defaults,-customize")),
        defaults
    );
}

#[test]
fn selection_from_cli_values() {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let s = Selection::from_args(
        &v(&["defaults,-tmp-files"]),
        &v(&["firewall-rules"]),
        &v(&["logfiles"]),
    );
    let n = names(&s);
    assert!(n.contains(&"firewall-rules") && !n.contains(&"tmp-files") && !n.contains(&"logfiles"));
    assert_eq!(
        names(&Selection::from_args(&[], &[], &[])),
        names(&Selection::defaults())
    );
    // --enable alone keeps the defaults; with --operations it adds to those.
    let n = names(&Selection::from_args(&[], &v(&["user-account"]), &[]));
    assert!(n.contains(&"user-account") && n.contains(&"machine-id"));
    assert_eq!(
        names(&Selection::from_args(
            &v(&["utmp"]),
            &v(&["machine-id"]),
            &[]
        )),
        ["machine-id", "utmp"]
    );
}

#[test]
fn identity_ops_left_out_are_named() {
    assert!(
        Selection::defaults()
            .identity_left_out()
            .unwrap()
            .is_empty()
    );
    assert!(
        Selection::defaults()
            .enable("user-account")
            .identity_left_out()
            .unwrap()
            .is_empty()
    );
    let out = Selection::defaults().disable("machine-id");
    let names: Vec<_> = out.identity_left_out().unwrap();
    assert_eq!(names.len(), 1);
    assert_eq!(names[0].0, "machine-id");
    let none = Selection::defaults().operations("tmp-files");
    let names: Vec<_> = none
        .identity_left_out()
        .unwrap()
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(names, ["ssh-hostkeys", "machine-id"]);
}

#[test]
fn unknown_operations_are_all_listed() {
    let err = Selection::defaults()
        .operations("machine-id,nope,-alsonot")
        .disable("third")
        .resolve()
        .map(|_| ())
        .unwrap_err();
    match &err {
        SealError::UnknownOp(v) => assert_eq!(v, &["nope", "alsonot", "third"]),
        e => panic!("{e}"),
    }
    assert!(
        err.to_string().contains("\"nope\", \"alsonot\", \"third\""),
        "{err}"
    );
    let err = Selection::defaults()
        .operations("customize")
        .resolve()
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("not file operations"), "{err}");
    assert!(
        !Selection::defaults()
            .operations("nope")
            .resolve()
            .map(|_| ())
            .unwrap_err()
            .to_string()
            .contains("not file operations")
    );
}

#[test]
fn ops_help_says_how_enable_differs_from_virt_sysprep() {
    let help = run_ok(cloudseal().args(["ops", "--help"]));
    assert!(
        help.contains("--enable LIST      add to the defaults"),
        "{help}"
    );
    assert!(
        help.contains("Unlike virt-sysprep, where --enable is an alias of --operations"),
        "{help}"
    );
}
