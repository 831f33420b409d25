//! A recipe key and its flag are one setting: same name, same default (as coreos-installer
//! checks its install config against its flags). The records are the library's; this test
//! sits here because it also checks that the subcommands flatten exactly them.

use std::collections::{BTreeMap, BTreeSet};

use clap::{ArgAction, Args, CommandFactory};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use cloudseal::glance::{Auth, ImageOptions, UploadOptions};
use cloudseal::output::OutputSpec;
use cloudseal::recipe::schema::{GlanceSection, SealSection};
use cloudseal::seal::SealOptions;
use cloudseal::seal::select::SelectArgs;

/// Long flag -> its default as text (none for an optional or repeatable value).
fn flags(cmd: &clap::Command) -> BTreeMap<String, Option<String>> {
    cmd.get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?.to_string();
            let mut d: Vec<String> = a
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            // A switch defaults to false once clap builds the command; say so before.
            if d.is_empty() && matches!(a.get_action(), ArgAction::SetTrue) {
                d.push("false".into());
            }
            Some((long, d.pop()))
        })
        .collect()
}

/// Key -> its default as text, from the serialized `Default` (null, [] and {} mean none).
fn keys<T: Serialize + Default>() -> BTreeMap<String, Option<String>> {
    let Value::Object(m) = serde_json::to_value(T::default()).expect("serializing defaults") else {
        panic!("a record serializes as a table");
    };
    m.into_iter()
        .map(|(k, v)| {
            let d = match v {
                Value::Null => None,
                Value::Array(a) if a.is_empty() => None,
                Value::Object(o) if o.is_empty() => None,
                Value::String(s) => Some(s),
                v => Some(v.to_string()),
            };
            (k, d)
        })
        .collect()
}

/// Same names, same defaults, and an empty table reads as the defaults.
fn check<T: Args + Serialize + DeserializeOwned + Default + PartialEq + std::fmt::Debug>() {
    let cmd = T::augment_args(clap::Command::new("t"));
    assert_eq!(
        flags(&cmd),
        keys::<T>(),
        "{}: flags and keys",
        std::any::type_name::<T>()
    );
    let empty: T = toml::from_str("").expect("an empty table");
    assert_eq!(empty, T::default());
    round_trip(&T::default());
}

/// A record written as recipe TOML reads back the same.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: &T) {
    let text = toml::to_string(v).expect("writing TOML");
    let back: T = toml::from_str(&text).unwrap_or_else(|e| panic!("reading back {text}: {e}"));
    assert_eq!(&back, v, "{text}");
}

/// Flags parsed into a record, then written as recipe keys and read back: the same settings.
fn flags_round_trip<T>(args: &[&str])
where
    T: Args + clap::FromArgMatches + Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let m = T::augment_args(clap::Command::new("t"))
        .try_get_matches_from(std::iter::once("t").chain(args.iter().copied()))
        .expect("parsing the flags");
    let v = T::from_arg_matches(&m).expect("the record from the flags");
    round_trip(&v);
}

#[test]
fn flags_written_as_recipe_keys_read_back_the_same() {
    flags_round_trip::<OutputSpec>(&[
        "--format",
        "qcow2",
        "-c",
        "zstd",
        "--level",
        "5",
        "--cluster-size",
        "128K",
        "--checksum-file",
    ]);
    flags_round_trip::<SelectArgs>(&["--operations", "defaults,-tmp-files", "--enable", "a"]);
    flags_round_trip::<SealOptions>(&["--static-ip-to-dhcp", "--keep-user-accounts", "a,b"]);
    flags_round_trip::<ImageOptions>(&[
        "--name",
        "x",
        "--visibility",
        "community",
        "--tag",
        "t",
        "--property",
        "k=v",
    ]);
    flags_round_trip::<UploadOptions>(&["--import", "--retries", "5"]);
    flags_round_trip::<Auth>(&["--os-auth-url", "http://k/v3", "--insecure"]);
}

#[test]
fn output_spec_has_one_name_and_default_per_setting() {
    check::<OutputSpec>();
    assert_eq!(keys::<OutputSpec>()["format"].as_deref(), Some("qcow2"));
}

#[test]
fn seal_records_have_one_name_and_default_per_setting() {
    check::<SelectArgs>();
    check::<SealOptions>();
}

#[test]
fn glance_records_have_one_name_and_default_per_setting() {
    check::<ImageOptions>();
    check::<UploadOptions>();
    check::<Auth>();
    // The comparison sees real values, not two empty maps.
    let up = flags(&UploadOptions::augment_args(clap::Command::new("t")));
    assert_eq!(up["wait-timeout"].as_deref(), Some("600"));
    assert_eq!(
        keys::<ImageOptions>()["container-format"].as_deref(),
        Some("bare")
    );
}

/// Flags that exist on the command line only: how the command itself runs and prints
/// (`build` has its own --force, --threads, --dry-run, --backend and --timestamp), the
/// output path (a recipe's `path`), `seal --upload` (a recipe uploads when it has
/// `[glance]`), and shorthands of a recipe key (`--public` is `visibility = "public"`).
const CLI_ONLY: &[&str] = &[
    "help",
    "verbose",
    "quiet",
    "json",
    "force",
    "threads",
    "dry-run",
    "backend",
    "timestamp",
    "replay-journal",
    "output",
    "upload",
    "public",
    "private",
    "shared",
    "community",
];

fn subcommand_flags(name: &str) -> BTreeSet<String> {
    let cli = super::Cli::command();
    let sub = cli
        .find_subcommand(name)
        .unwrap_or_else(|| panic!("no subcommand {name}"))
        .clone();
    flags(&sub)
        .into_keys()
        .filter(|f| !CLI_ONLY.contains(&f.as_str()))
        .collect()
}

#[test]
fn every_upload_flag_is_a_glance_key() {
    let recipe: BTreeSet<String> = keys::<GlanceSection>().into_keys().collect();
    let missing: Vec<_> = subcommand_flags("upload")
        .into_iter()
        .filter(|f| !recipe.contains(f))
        .collect();
    assert!(
        missing.is_empty(),
        "upload flags without a [glance] key: {missing:?}"
    );
}

#[test]
fn every_convert_flag_is_an_output_key() {
    let recipe: BTreeSet<String> = keys::<OutputSpec>().into_keys().collect();
    let missing: Vec<_> = subcommand_flags("convert")
        .into_iter()
        .filter(|f| !recipe.contains(f))
        .collect();
    assert!(
        missing.is_empty(),
        "convert flags without an [[output]] key: {missing:?}"
    );
}

/// `seal`'s flags are the keys of `[[output]]`, `[seal]`, `[seal.options]` and `[glance]`,
/// and `seal` flattens exactly those records.
#[test]
fn every_seal_flag_is_a_recipe_key() {
    let recipe: BTreeSet<String> = [
        keys::<OutputSpec>(),
        keys::<SealSection>(),
        keys::<SealOptions>(),
        keys::<GlanceSection>(),
    ]
    .into_iter()
    .flat_map(|k| k.into_keys())
    .collect();
    let missing: Vec<_> = subcommand_flags("seal")
        .into_iter()
        .filter(|f| !recipe.contains(f))
        .collect();
    assert!(
        missing.is_empty(),
        "seal flags without a recipe key: {missing:?}"
    );
}
