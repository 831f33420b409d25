//! Reading a recipe: TOML syntax, `${var}` substitution, the schema of every section, then
//! the meaning of every value (files that must exist, operation names, formats). Every
//! problem is collected with its line, so one `recipe check` lists them all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::problem::{Problem, RecipeErrors};
use super::schema::{Base, GlanceSection, Located, Output, Recipe, SealSection, Step};
use super::validate;
use super::vars::{self, VarSource};

/// Largest recipe file we read.
const MAX_RECIPE: u64 = 4 << 20;

/// A loaded recipe and the raw bytes it came from (the manifest hashes them).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub recipe: Recipe,
    pub text: String,
    pub dir: PathBuf,
    /// Problems that do not stop a lint (see [`Problem::warning`]).
    pub warnings: Vec<Problem>,
}

/// As [`load`], with every warning an error: for `build`, which needs the base.
pub fn load_strict(path: &Path, vars: &VarSource) -> Result<Loaded, RecipeErrors> {
    let mut problems = match load(path, vars) {
        Ok(l) if l.warnings.is_empty() => return Ok(l),
        Ok(l) => l.warnings,
        Err(e) => e.problems,
    };
    for p in &mut problems {
        p.warning = false;
    }
    Err(RecipeErrors {
        file: path.display().to_string(),
        problems,
    })
}

/// Read, parse and validate the recipe at `path`. A recipe with only warnings loads, with
/// them in [`Loaded::warnings`].
pub fn load(path: &Path, vars: &VarSource) -> Result<Loaded, RecipeErrors> {
    let file = path.display().to_string();
    let fail = |message: String| RecipeErrors {
        file: file.clone(),
        problems: vec![Problem {
            line: None,
            message,
            warning: false,
        }],
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("reading {file}: {e}")))?;
    if meta.len() > MAX_RECIPE {
        return Err(fail(format!("{file} is larger than {MAX_RECIPE} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("reading {file}: {e}")))?;
    let dir = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    match parse_all(&text, &dir, vars) {
        Ok((recipe, warnings)) => Ok(Loaded {
            recipe,
            text,
            dir,
            warnings,
        }),
        Err(problems) => Err(RecipeErrors { file, problems }),
    }
}

/// Line (1-based) of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

struct Ctx<'t> {
    text: &'t str,
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    fn at(&mut self, offset: Option<usize>, message: impl Into<String>) {
        self.problems.push(Problem {
            line: offset.map(|o| line_of(self.text, o)),
            message: message.into(),
            warning: false,
        });
    }

    fn de_error(&mut self, fallback: usize, what: &str, e: toml::de::Error) {
        let off = e.span().map(|s| s.start).unwrap_or(fallback);
        let msg = e.message().trim().to_string();
        // A typed value's own message already names its object ("output format ..."):
        // naming it twice would only add noise.
        let first = what.split(' ').next().unwrap_or(what);
        if msg.starts_with(&format!("{first} ")) {
            self.at(Some(off), msg);
        } else {
            self.at(Some(off), format!("{what}: {msg}"));
        }
    }

    /// Deserialize one value; on error record it and return None.
    fn value<T: DeserializeOwned>(&mut self, v: Spanned<DeValue<'_>>, what: &str) -> Option<T> {
        let span = v.span();
        match T::deserialize(ValueDeserializer::from(v)) {
            Ok(t) => Some(t),
            Err(e) => {
                let start = self
                    .unknown_key_offset(&e, span.clone())
                    .unwrap_or(span.start);
                self.de_error(start, what, e);
                None
            }
        }
    }

    /// For "unknown field `k`" without a span of its own: where `k =` starts in the table.
    fn unknown_key_offset(
        &self,
        e: &toml::de::Error,
        span: std::ops::Range<usize>,
    ) -> Option<usize> {
        if e.span().is_some() {
            return None;
        }
        let key = e
            .message()
            .strip_prefix("unknown field `")?
            .split('`')
            .next()?;
        // The table's span may cover only its header: read on to the next header.
        let body = self.text.get(span.start..)?;
        let mut off = 0;
        for (i, line) in body.split_inclusive('\n').enumerate() {
            let t = line.trim_start();
            if i > 0 && t.starts_with('[') && span.end <= span.start + off {
                break;
            }
            if let Some(rest) = t.strip_prefix(key)
                && rest.trim_start().starts_with('=')
            {
                return Some(span.start + off);
            }
            off += line.len();
        }
        None
    }

    /// An array of tables (`[[customize]]`), each element deserialized on its own so that
    /// every bad element is reported.
    fn array<T: DeserializeOwned>(
        &mut self,
        v: Spanned<DeValue<'_>>,
        what: &str,
    ) -> Vec<Located<T>> {
        let start = v.span().start;
        let DeValue::Array(items) = v.into_inner() else {
            self.at(
                Some(start),
                format!("{what} must be an array of tables ([[{what}]])"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            let line = line_of(self.text, item.span().start);
            if let Some(t) = self.value(item, &format!("{what} #{}", i + 1)) {
                out.push(Located { line, item: t });
            }
        }
        out
    }
}

/// Parse and validate recipe text; relative host paths are resolved against `dir`.
/// Warnings alone do not fail it (they are dropped: [`load`] keeps them).
pub fn parse(text: &str, dir: &Path, vars: &VarSource) -> Result<Recipe, Vec<Problem>> {
    parse_all(text, dir, vars).map(|(r, _)| r)
}

/// As [`parse`], with the warnings; on error, every problem, warnings marked.
fn parse_all(
    text: &str,
    dir: &Path,
    vars: &VarSource,
) -> Result<(Recipe, Vec<Problem>), Vec<Problem>> {
    let mut cx = Ctx {
        text,
        problems: Vec::new(),
    };
    let (doc, errors) = DeTable::parse_recoverable(text);
    for e in errors {
        let off = e.span().map(|s| s.start);
        cx.at(off, format!("TOML syntax: {}", e.message().trim()));
    }
    let mut table = doc.into_inner();

    // [vars] first: the defaults every other section's strings may use.
    let mut defaults: BTreeMap<String, String> = BTreeMap::new();
    if let Some(v) = table.remove("vars")
        && let Some(d) = cx.value::<BTreeMap<String, String>>(v, "[vars]")
    {
        for k in d.keys() {
            if !vars::valid_name(k) {
                cx.at(None, format!("[vars]: {k:?} is not a variable name"));
            }
        }
        defaults = d;
    }
    let mut used = BTreeMap::new();
    let lookup = |n: &str| vars.lookup(n, &defaults);
    for (_, v) in table.iter_mut() {
        substitute_all(v, &lookup, &mut used, &mut cx);
    }

    let mut recipe = Recipe {
        vars: used,
        ..Recipe::default()
    };
    let mut lines: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (key, value) in table {
        let key_off = key.span().start;
        let line = line_of(text, value.span().start);
        match key.get_ref().as_ref() {
            "base" => {
                lines.insert("base", line);
                recipe.base = cx.value::<Base>(value, "[base]");
            }
            "customize" => recipe.customize = cx.array::<Step>(value, "customize"),
            "seal" => {
                lines.insert("seal", line);
                if let Some(s) = cx.value::<SealSection>(value, "[seal]") {
                    recipe.seal = s;
                }
            }
            "output" => {
                lines.insert("output", line);
                recipe.output = cx.array::<Output>(value, "output");
            }
            "glance" => {
                lines.insert("glance", line);
                recipe.glance = cx.value::<GlanceSection>(value, "[glance]");
            }
            other => cx.at(
                Some(key_off),
                format!(
                    "unknown section {other:?} (expected base, vars, customize, seal, output, glance)"
                ),
            ),
        }
    }
    let mut problems = cx.problems;
    problems.extend(validate::validate(&mut recipe, dir, &lines));
    problems.sort_by_key(|p| p.line.unwrap_or(0));
    if problems.iter().all(|p| p.warning) {
        Ok((recipe, problems))
    } else {
        Err(problems)
    }
}

/// Substitute `${var}` in every string below `v` (keys are left alone).
fn substitute_all(
    v: &mut Spanned<DeValue<'_>>,
    lookup: &dyn Fn(&str) -> Option<String>,
    used: &mut BTreeMap<String, String>,
    cx: &mut Ctx<'_>,
) {
    let start = v.span().start;
    match v.get_mut() {
        DeValue::String(s) => match vars::substitute(s, lookup, used) {
            Ok(new) => *s = new.into(),
            Err(msg) => cx.at(Some(start), msg),
        },
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                substitute_all(item, lookup, used, cx);
            }
        }
        DeValue::Table(t) => {
            for (_, item) in t.iter_mut() {
                substitute_all(item, lookup, used, cx);
            }
        }
        _ => {}
    }
}
