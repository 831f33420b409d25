//! What is wrong with a recipe: each problem with its line, and all of them as one error.
//! Its own module so that loading and validating both use it without importing each other.

use std::fmt;

/// One problem in a recipe, at a line when known.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub line: Option<usize>,
    pub message: String,
    /// Not an error for a lint (a local base image that is not there yet); `build` and
    /// `recipe check --strict` treat it as one.
    #[serde(skip_serializing_if = "is_false")]
    pub warning: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Everything wrong with a recipe: the errors, and the warnings among them.
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) in recipe {}:\n{}", errors(.problems), .file, render(.problems))]
pub struct RecipeErrors {
    pub file: String,
    pub problems: Vec<Problem>,
}

fn errors(problems: &[Problem]) -> usize {
    problems.iter().filter(|p| !p.warning).count()
}

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| {
            let w = if p.warning { "warning: " } else { "" };
            match p.line {
                Some(l) => format!("  line {l}: {w}{}", p.message),
                None => format!("  {w}{}", p.message),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
