//! `[jobs]` and its `[[jobs.hook]]` tables: the programs a `hook` job may
//! run, read into [`JobsConfig`].

use toml::{Table, Value};

use super::reader::{TableReader, article_type, join};
use super::{HookConfig, JobsConfig};

const JOBS_KEYS: &[&str] = &["hook", "nice", "keep_days"];
/// Finished jobs are forgotten after a month by default.
const DEFAULT_KEEP_DAYS: u32 = 30;
const KEEP_DAYS: std::ops::RangeInclusive<i64> = 1..=3650;
const HOOK_KEYS: &[&str] = &["name", "program", "args", "timeout_seconds"];
/// A day: a hook that needs longer is not a follow-up job.
const TIMEOUT_SECONDS: std::ops::RangeInclusive<i64> = 1..=86_400;
const DEFAULT_TIMEOUT_SECONDS: u32 = 600;
/// Hooks run below playout's priority by default (nice 10).
const DEFAULT_NICE: i32 = 10;
const NICE: std::ops::RangeInclusive<i64> = 0..=19;

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            hooks: Vec::new(),
            nice: DEFAULT_NICE,
            keep_days: DEFAULT_KEEP_DAYS,
        }
    }
}

fn is_hook_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

impl TableReader {
    /// `[jobs]`: the defaults (no hooks) when absent.
    pub(super) fn jobs(&mut self, root: &Table) -> JobsConfig {
        let mut config = JobsConfig::default();
        let Some(table) = self.section(root, "jobs", JOBS_KEYS) else {
            return config;
        };
        if let Some(nice) = self.integer("jobs", Some(table), "nice", NICE, "steps of niceness") {
            config.nice = nice as i32;
        }
        if let Some(days) = self.integer("jobs", Some(table), "keep_days", KEEP_DAYS, "days") {
            config.keep_days = days as u32;
        }
        let hooks = match table.get("hook") {
            None => return config,
            Some(Value::Array(hooks)) => hooks,
            Some(other) => {
                self.problem(
                    "jobs.hook",
                    Some(other),
                    "expected [[jobs.hook]] tables, each with name, program, args and \
                     timeout_seconds",
                );
                return config;
            }
        };
        for (i, hook) in hooks.iter().enumerate() {
            let prefix = format!("jobs.hook[{}]", i + 1);
            let Value::Table(hook) = hook else {
                self.problem(
                    prefix,
                    Some(hook),
                    "expected a [[jobs.hook]] table with name, program, args and timeout_seconds",
                );
                continue;
            };
            if let Some(hook) = self.hook(&prefix, hook, &config.hooks) {
                config.hooks.push(hook);
            }
        }
        config
    }

    fn hook(&mut self, prefix: &str, table: &Table, earlier: &[HookConfig]) -> Option<HookConfig> {
        self.unknown_keys(prefix, table, HOOK_KEYS);
        let name = match table.get("name") {
            None => {
                self.problem(
                    join(prefix, "name"),
                    None,
                    "expected the hook's name, used in `onair job add hook NAME` (such as \
                     \"publish\")",
                );
                None
            }
            Some(Value::String(name)) if is_hook_name(name) => {
                if earlier.iter().any(|h| &h.name == name) {
                    self.problem(
                        join(prefix, "name"),
                        table.get("name"),
                        "another [[jobs.hook]] has this name already; give each its own",
                    );
                    None
                } else {
                    Some(name.clone())
                }
            }
            Some(other) => {
                self.problem(
                    join(prefix, "name"),
                    Some(other),
                    "expected a name of letters, digits, '-' and '_' (such as \"publish\")",
                );
                None
            }
        };
        let program = self.path(prefix, Some(table), "program");
        if program.is_none() && !table.contains_key("program") {
            self.problem(
                join(prefix, "program"),
                None,
                "expected the program to run, such as \"/usr/local/bin/publish-news\" (it gets \
                 the job's file as its last argument)",
            );
        }
        let args = match table.get("args") {
            None => Some(Vec::new()),
            Some(Value::Array(items)) => {
                let strings: Option<Vec<String>> = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect();
                if strings.is_none() {
                    self.problem(
                        join(prefix, "args"),
                        table.get("args"),
                        "expected a list of strings in quotes, such as [\"--quiet\"]",
                    );
                }
                strings
            }
            Some(other) => {
                self.problem(
                    join(prefix, "args"),
                    Some(other),
                    format!(
                        "expected a list of strings in quotes, such as [\"--quiet\"], not {}",
                        article_type(other)
                    ),
                );
                None
            }
        };
        let timeout = match table.get("timeout_seconds") {
            None => Some(DEFAULT_TIMEOUT_SECONDS),
            Some(_) => self
                .integer(
                    prefix,
                    Some(table),
                    "timeout_seconds",
                    TIMEOUT_SECONDS,
                    "seconds",
                )
                .map(|n| n as u32),
        };
        Some(HookConfig {
            name: name?,
            program: program?,
            args: args?,
            timeout_seconds: timeout?,
        })
    }
}
