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
    // --enable is --operations; --disable starts from the defaults.
    assert_eq!(names(&Selection::defaults().enable("utmp")), ["utmp"]);
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
