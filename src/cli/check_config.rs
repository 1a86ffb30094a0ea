//! `onair check-config`: every problem in a configuration file, and its
//! warnings about this machine.

use std::path::Path;
use std::process::ExitCode;

use crate::config::{Config, Warning};

/// Exits 1 when the box would refuse the file; warnings alone exit 0.
pub fn check_config(path: &Path) -> ExitCode {
    match Config::load(path) {
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
        Ok(config) => {
            // Warnings are about this machine (folders not there yet, storage
            // not mounted), not about the file, which is often checked on
            // another machine than the box: they do not fail the check.
            let mut warnings = config.check();
            if let Some(archive) = &config.archive
                && let Some((problem, fix)) =
                    crate::archive::storage::warning(&archive.dir, archive.min_free_mb)
            {
                warnings.push(Warning {
                    key: "archive.dir".into(),
                    path: archive.dir.clone(),
                    problem,
                    fix: fix.into(),
                });
            }
            for warning in &warnings {
                eprintln!("warning: {warning}");
            }
            match super::print(&verdict(path, warnings.len())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("onair: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn verdict(path: &Path, warnings: usize) -> String {
    match warnings {
        0 => format!("{}: ok\n", path.display()),
        n => format!(
            "{}: ok, with {n} warning{} above: the box starts with this file, but see to {}\n",
            path.display(),
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" },
        ),
    }
}
