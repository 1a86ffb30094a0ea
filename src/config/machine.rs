//! What `onair check-config` reports beyond a valid file: folders and files
//! on this machine that are missing or unusable. The box still starts with
//! these, so they are warnings, not problems; nothing here creates anything.

use std::path::Path;

use super::{CalendarConfig, CalendarSource, Config, OutputConfig, Warning};

impl Config {
    /// What `onair check-config` reports beyond a valid file: folders and
    /// files that are missing or unusable. The box still starts with these.
    pub fn check(&self) -> Vec<Warning> {
        let mut warnings = Vec::new();
        if let Some(w) = check_folder(
            "library.programmes",
            &self.library.programmes,
            "the programme folder",
            "create it or mount the programme storage, or set library.programmes to the folder holding the programme files",
        ) {
            warnings.push(w);
        }
        if let Some(filler) = &self.library.filler {
            let fix = "create it and put filler files in it, or remove library.filler";
            match check_folder("library.filler", filler, "the filler folder", fix) {
                Some(w) => warnings.push(w),
                None if !has_files(filler) => warnings.push(Warning {
                    key: "library.filler".into(),
                    path: filler.clone(),
                    problem:
                        "the filler folder holds no files, so unscheduled time will not be filled"
                            .into(),
                    fix: "put filler audio files in it".into(),
                }),
                None => {}
            }
        }
        if let Some(emergency) = &self.library.emergency {
            let problem = match std::fs::metadata(emergency) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(
                    "the emergency file does not exist, so dead air will not be covered"
                        .to_string(),
                ),
                Err(e) => Some(format!("the emergency file cannot be read ({e})")),
                Ok(m) if !m.is_file() => Some(
                    "this is not a file; the emergency source must be one sound file".to_string(),
                ),
                Ok(_) => None,
            };
            if let Some(problem) = problem {
                warnings.push(Warning {
                    key: "library.emergency".into(),
                    path: emergency.clone(),
                    problem,
                    fix: "put a sound file there (it is looped when nothing else can play), or remove library.emergency".into(),
                });
            }
        }
        if let Some(problem) = not_creatable(&self.data.dir) {
            warnings.push(Warning {
                key: "data.dir".into(),
                path: self.data.dir.clone(),
                problem: format!("the data folder (as-run log and state) {problem}"),
                fix: "create it and give it to the user onair runs as, or set data.dir to a writable folder".into(),
            });
        }
        if let Some(CalendarConfig {
            source: CalendarSource::File(path),
            ..
        }) = &self.calendar
            && !path.is_file()
        {
            warnings.push(Warning {
                key: "calendar.source".into(),
                path: path.clone(),
                problem: "the calendar file does not exist or is not a file, so slots come from the last cached copy, if any".into(),
                fix: "put the station's .ics file there, or correct calendar.source".into(),
            });
        }
        for (i, output) in self.outputs.iter().enumerate() {
            if let OutputConfig::Wav { path } = output {
                let folder = path.parent().unwrap_or(Path::new("."));
                if let Some(problem) = not_creatable(folder) {
                    warnings.push(Warning {
                        key: format!("output[{}].path", i + 1),
                        path: path.clone(),
                        problem: format!("the folder of the wav file {problem}"),
                        fix: "create the folder and make it writable, or choose another path"
                            .into(),
                    });
                }
            }
        }
        warnings.extend(self.panel.check());
        warnings.extend(self.jobs.check());
        warnings
    }
}

fn check_folder(key: &str, path: &Path, what: &str, fix: &str) -> Option<Warning> {
    let problem = match std::fs::read_dir(path) {
        Ok(_) => return None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!("{what} does not exist"),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            format!("{what} is a file, not a folder")
        }
        Err(e) => format!("{what} cannot be read ({e})"),
    };
    Some(Warning {
        key: key.into(),
        path: path.to_path_buf(),
        problem,
        fix: fix.into(),
    })
}

fn has_files(folder: &Path) -> bool {
    std::fs::read_dir(folder).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| !e.file_name().to_string_lossy().starts_with('.') && e.path().is_file())
    })
}

/// Why the box could not create or write `folder`, or `None` if it can.
/// Nothing is created: `check-config` is often run as another user than the
/// box, and a folder it created would belong to the wrong user.
fn not_creatable(folder: &Path) -> Option<String> {
    let mut existing = folder;
    loop {
        match std::fs::metadata(existing) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => {
                return Some(format!(
                    "cannot be created: {} is a file",
                    existing.display()
                ));
            }
            // A missing folder, or one "inside" a file: look further up.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                match existing.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => existing = parent,
                    _ => return None,
                }
            }
            Err(e) => return Some(format!("cannot be checked: {e}")),
        }
    }
    if writable(existing) {
        None
    } else if existing == folder {
        Some("is not writable".to_string())
    } else {
        Some(format!(
            "cannot be created: {} is not writable",
            existing.display()
        ))
    }
}

fn writable(folder: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(folder.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c_path` is a valid NUL-terminated string that outlives the call.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}
