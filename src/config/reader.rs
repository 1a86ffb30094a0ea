//! The reader of the configuration's TOML tables. Every value it cannot
//! take becomes a [`Problem`] naming the key, the value as written and what
//! to write instead, and reading goes on, so one run reports every problem
//! in the file.

use std::path::PathBuf;

use toml::{Table, Value};

use super::Problem;

/// Reads values out of the configuration's tables, collecting a [`Problem`]
/// for each one it cannot take.
pub(super) struct TableReader {
    /// The configuration file's folder, for relative paths.
    pub(super) base: PathBuf,
    pub(super) problems: Vec<Problem>,
}

pub(super) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The value as the user wrote it, shortened when long.
fn show(value: &Value) -> String {
    let text = match value {
        Value::Table(_) => "a table".to_string(),
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    }
}

pub(super) fn article_type(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number with a fraction",
        Value::Boolean(_) => "true/false",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// The known key a mistyped `key` most likely meant.
pub(super) fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = key.to_lowercase().replace('-', "_");
    let allowed = (lower.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (strsim::osa_distance(&lower, k), *k))
        .filter(|(d, k)| {
            *d <= allowed || (lower.len() >= 3 && (k.contains(lower.as_str()) || lower.contains(k)))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

pub(super) fn one_of(known: &[&str]) -> String {
    known.join(", ")
}

impl TableReader {
    pub(super) fn new(base: PathBuf) -> Self {
        TableReader {
            base,
            problems: Vec::new(),
        }
    }

    pub(super) fn problem(
        &mut self,
        key: impl Into<String>,
        value: Option<&Value>,
        expected: impl Into<String>,
    ) {
        self.problems.push(Problem {
            key: key.into(),
            value: value.map(show).unwrap_or_default(),
            expected: expected.into(),
        });
    }

    pub(super) fn unknown_keys(&mut self, prefix: &str, table: &Table, known: &[&str]) {
        for (key, value) in table {
            if known.contains(&key.as_str()) {
                continue;
            }
            let mut expected = format!("unknown key; expected one of {}", one_of(known));
            if let Some(guess) = closest(key, known) {
                expected.push_str(&format!(" (did you mean `{guess}`?)"));
            }
            self.problem(join(prefix, key), Some(value), expected);
        }
    }

    /// A `[name]` section; `None` if absent or not a table (the latter is a problem).
    pub(super) fn section<'t>(
        &mut self,
        root: &'t Table,
        name: &str,
        known: &[&str],
    ) -> Option<&'t Table> {
        match root.get(name)? {
            Value::Table(table) => {
                self.unknown_keys(name, table, known);
                Some(table)
            }
            other => {
                self.problem(
                    name,
                    Some(other),
                    format!(
                        "expected a [{name}] section with the keys {}",
                        one_of(known)
                    ),
                );
                None
            }
        }
    }

    pub(super) fn string<'t>(
        &mut self,
        prefix: &str,
        table: Option<&'t Table>,
        key: &str,
    ) -> Option<&'t str> {
        match table?.get(key)? {
            Value::String(s) if !s.trim().is_empty() => Some(s),
            other @ Value::String(_) => {
                self.problem(
                    join(prefix, key),
                    Some(other),
                    "expected a non-empty string; remove the key to use the default",
                );
                None
            }
            other => {
                self.problem(
                    join(prefix, key),
                    Some(other),
                    format!("expected a string in quotes, not {}", article_type(other)),
                );
                None
            }
        }
    }

    pub(super) fn integer(
        &mut self,
        prefix: &str,
        table: Option<&Table>,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
        unit: &str,
    ) -> Option<i64> {
        let value = table?.get(key)?;
        let expected = format!(
            "expected a whole number of {unit} from {} to {}",
            range.start(),
            range.end()
        );
        match value {
            Value::Integer(n) if range.contains(n) => Some(*n),
            Value::Integer(_) => {
                self.problem(join(prefix, key), Some(value), expected);
                None
            }
            other => {
                self.problem(
                    join(prefix, key),
                    Some(other),
                    format!("{expected}, not {}", article_type(other)),
                );
                None
            }
        }
    }

    pub(super) fn path(
        &mut self,
        prefix: &str,
        table: Option<&Table>,
        key: &str,
    ) -> Option<PathBuf> {
        self.string(prefix, table, key).map(|s| self.base.join(s))
    }
}
