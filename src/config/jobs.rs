//! `[jobs]` and its `[[jobs.hook]]` tables: the programs a `hook` job may
//! run, read into [`JobsConfig`].

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use toml::{Table, Value};

use super::reader::{TableReader, article_type, join};
use super::{HookConfig, JobsConfig, Warning};

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

impl JobsConfig {
    /// What `onair check-config` says of the hooks on this machine: a
    /// program that is not there or cannot be run. A warning, not a
    /// problem: the share it lives on may be mounted after the box starts.
    pub fn check(&self) -> Vec<Warning> {
        self.hooks
            .iter()
            .enumerate()
            .filter_map(|(i, hook)| {
                let problem = program_problem(&hook.program)?;
                Some(Warning {
                    key: format!("jobs.hook[{}].program", i + 1),
                    path: hook.program.clone(),
                    problem: format!(
                        "the hook {:?}'s program {problem}, so its jobs will fail",
                        hook.name
                    ),
                    fix: "install the program there and make it executable (chmod +x), mount the \
                          share it is on, or correct the path"
                        .into(),
                })
            })
            .collect()
    }
}

/// Why `program` cannot be run, if it cannot: a bare name is looked for
/// on the `PATH`, as running it does.
fn program_problem(program: &Path) -> Option<String> {
    let bare = !program.is_absolute() && program.components().count() == 1;
    let path = if bare {
        let found = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|p| p.is_file())
        });
        match found {
            Some(path) => path,
            None => return Some("is not found on the PATH".into()),
        }
    } else {
        program.to_path_buf()
    };
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("does not exist".into()),
        Err(e) => Some(format!("cannot be read ({e})")),
        Ok(m) if !m.is_file() => Some("is not a file".into()),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Some("is not executable".into()),
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn hooks(programs: &[&Path]) -> JobsConfig {
        JobsConfig {
            hooks: programs
                .iter()
                .enumerate()
                .map(|(i, p)| HookConfig {
                    name: format!("hook{}", i + 1),
                    program: p.to_path_buf(),
                    args: Vec::new(),
                    timeout_seconds: 60,
                })
                .collect(),
            ..JobsConfig::default()
        }
    }

    #[test]
    fn a_hook_program_missing_or_not_executable_is_a_warning_with_its_key_and_fix() {
        let dir = std::env::temp_dir().join(format!("onair-hooks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let runnable = dir.join("publish.sh");
        std::fs::write(&runnable, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&runnable, std::fs::Permissions::from_mode(0o755)).unwrap();
        let plain = dir.join("notes.txt");
        std::fs::write(&plain, "not a program").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let missing = dir.join("share/not-mounted/publish");

        // Good: a program that runs, and one found on the PATH.
        assert_eq!(hooks(&[&runnable, Path::new("sh")]).check(), []);

        let warnings = hooks(&[
            &runnable,
            &missing,
            &plain,
            &dir,
            Path::new("no-such-hook-x"),
        ])
        .check();
        let said: Vec<(String, String)> = warnings
            .iter()
            .map(|w| (w.key.clone(), w.problem.clone()))
            .collect();
        assert_eq!(
            said,
            [
                (
                    "jobs.hook[2].program".to_string(),
                    "the hook \"hook2\"'s program does not exist, so its jobs will fail"
                        .to_string()
                ),
                (
                    "jobs.hook[3].program".to_string(),
                    "the hook \"hook3\"'s program is not executable, so its jobs will fail"
                        .to_string()
                ),
                (
                    "jobs.hook[4].program".to_string(),
                    "the hook \"hook4\"'s program is not a file, so its jobs will fail".to_string()
                ),
                (
                    "jobs.hook[5].program".to_string(),
                    "the hook \"hook5\"'s program is not found on the PATH, so its jobs will fail"
                        .to_string()
                ),
            ]
        );
        assert!(warnings.iter().all(|w| w.fix.contains("chmod +x")));
        assert_eq!(warnings[0].path, missing);
        let line = warnings[1].to_string();
        assert!(line.starts_with("jobs.hook[3].program = \""), "{line}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
