//! `${name}` substitution in recipe strings. A value comes from `--var name=value`, else the
//! environment, else `[vars]` in the recipe; `$${` writes a literal `${`.

use std::collections::BTreeMap;

/// Where variable values come from, highest priority first.
#[derive(Debug, Clone, Default)]
pub struct VarSource {
    /// `--var name=value` from the command line.
    pub cli: BTreeMap<String, String>,
    /// Look names up in the process environment (after `cli`, before the recipe's defaults).
    pub use_env: bool,
}

impl VarSource {
    /// Parse `name=value` pairs from `--var`.
    pub fn from_args(args: &[String], use_env: bool) -> Result<Self, String> {
        let mut cli = BTreeMap::new();
        for a in args {
            let (k, v) = a
                .split_once('=')
                .ok_or_else(|| format!("--var {a:?}: expected name=value"))?;
            if !valid_name(k) {
                return Err(format!("--var {a:?}: {k:?} is not a variable name"));
            }
            cli.insert(k.to_string(), v.to_string());
        }
        Ok(VarSource { cli, use_env })
    }

    /// The value of `name`, given the recipe's `[vars]` defaults.
    pub fn lookup(&self, name: &str, defaults: &BTreeMap<String, String>) -> Option<String> {
        if let Some(v) = self.cli.get(name) {
            return Some(v.clone());
        }
        if self.use_env
            && let Ok(v) = std::env::var(name)
        {
            return Some(v);
        }
        defaults.get(name).cloned()
    }
}

/// Letters, digits, `_` and `-`, not starting with a digit or `-`.
pub fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Replace every `${name}` in `s`; the error names each variable that has no value.
pub fn substitute(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    used: &mut BTreeMap<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut missing: Vec<String> = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail
                .find('}')
                .ok_or_else(|| format!("unclosed \"${{\" in {s:?}"))?;
            let name = &tail[..end];
            if !valid_name(name) {
                return Err(format!("{name:?} is not a variable name (in {s:?})"));
            }
            match lookup(name) {
                Some(v) => {
                    out.push_str(&v);
                    used.insert(name.to_string(), v);
                }
                None => missing.push(name.to_string()),
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(format!(
            "undefined variable(s) {} (set with --var name=value or in [vars])",
            missing
                .iter()
                .map(|m| format!("${{{m}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(s: &str) -> Result<String, String> {
        let look = |n: &str| match n {
            "a" => Some("1".to_string()),
            "long_name-2" => Some("x/y".to_string()),
            _ => None,
        };
        substitute(s, &look, &mut BTreeMap::new())
    }

    #[test]
    fn substitutes_escapes_and_reports_every_missing_name() {
        assert_eq!(sub("${a}/${long_name-2}.qcow2").unwrap(), "1/x/y.qcow2");
        assert_eq!(sub("cost $5, $${a} stays").unwrap(), "cost $5, ${a} stays");
        assert_eq!(sub("no vars").unwrap(), "no vars");
        let e = sub("${b} ${a} ${c}").unwrap_err();
        assert!(
            e.contains("${b}") && e.contains("${c}") && !e.contains("${a}"),
            "{e}"
        );
        assert!(sub("${a").unwrap_err().contains("unclosed"));
        assert!(sub("${1x}").unwrap_err().contains("not a variable name"));
    }

    #[test]
    fn cli_beats_env_beats_defaults() {
        let defaults: BTreeMap<String, String> = [("v".to_string(), "default".to_string())].into();
        let src = VarSource::from_args(&["v=cli".into()], false).unwrap();
        assert_eq!(src.lookup("v", &defaults).as_deref(), Some("cli"));
        let src = VarSource::from_args(&[], false).unwrap();
        assert_eq!(src.lookup("v", &defaults).as_deref(), Some("default"));
        assert!(VarSource::from_args(&["novalue".into()], false).is_err());
        assert!(VarSource::from_args(&["9=x".into()], false).is_err());
    }
}
