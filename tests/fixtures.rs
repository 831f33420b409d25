//! The fixtures themselves: the planted list matches the generated guest tree.

use crate::util::{fixture, repo};

/// (op, guest path, expected outcome) from fixtures/planted.txt.
pub fn planted() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(repo().join("fixtures/planted.txt"))
        .expect("reading fixtures/planted.txt");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 3, "bad line in planted.txt: {l:?}");
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect()
}

#[test]
fn every_planted_path_exists_in_the_guest_tree() {
    let tree = fixture("guest-tree");
    let list = planted();
    assert!(
        list.len() > 40,
        "planted.txt lists only {} paths",
        list.len()
    );
    for (op, path, outcome) in &list {
        let host = tree.join(path.trim_start_matches('/'));
        let meta = std::fs::symlink_metadata(&host)
            .unwrap_or_else(|e| panic!("{op}: planted {path} missing from the tree: {e}"));
        assert!(meta.is_file(), "{op}: planted {path} is not a regular file");
        assert!(meta.len() > 0, "{op}: planted {path} is empty already");
        assert!(
            ["removed", "emptied", "edited"].contains(&outcome.as_str()),
            "{op}: unknown outcome {outcome:?} for {path}"
        );
    }
}
