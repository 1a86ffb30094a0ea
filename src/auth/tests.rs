use std::os::unix::fs::PermissionsExt;

use super::*;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onair-auth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn no_file_is_no_secrets_and_an_update_writes_a_private_file() {
    let data = temp("update");
    assert!(read(&data).unwrap().is_empty());
    update(&data, |s| {
        s.password = Some("$argon2id$fake".into());
        Ok(())
    })
    .unwrap();
    let path = secrets_path(&data);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(
        read(&data).unwrap().password.as_deref(),
        Some("$argon2id$fake")
    );
    // A failed change writes nothing.
    let failed: Result<()> = update(&data, |s| {
        s.password = None;
        anyhow::bail!("no")
    });
    assert!(failed.is_err());
    assert!(read(&data).unwrap().password.is_some());
    std::fs::remove_dir_all(&data).unwrap();
}

#[test]
fn the_box_sees_a_change_to_the_file_at_its_next_check() {
    let data = temp("watch");
    let file = SecretsFile::new(&data);
    assert!(file.current().unwrap().is_empty());
    update(&data, |s| {
        s.tokens.push(TokenRecord {
            name: "ci".into(),
            sha256: tokens::digest("t"),
            created: Utc::now(),
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(file.current().unwrap().tokens.len(), 1);
    update(&data, |s| {
        s.tokens.clear();
        Ok(())
    })
    .unwrap();
    assert!(file.current().unwrap().tokens.is_empty());

    std::fs::write(secrets_path(&data), "password = [").unwrap();
    let damaged = file.current().unwrap_err();
    assert!(damaged.contains("onair passwd"), "{damaged}");
    std::fs::remove_dir_all(&data).unwrap();
}

#[test]
fn root_writing_the_secrets_gives_them_to_the_data_folders_owner() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: only root can give files away");
        return;
    }
    // An installed box: the data folder belongs to the service's user
    // (here `nobody`), and the engineer runs `sudo onair passwd`.
    let data = temp("owner");
    std::os::unix::fs::chown(&data, Some(65534), Some(65534)).unwrap();
    update(&data, |s| {
        s.password = Some("$argon2id$fake".into());
        Ok(())
    })
    .unwrap();
    for path in [
        secrets_path(&data),
        secrets_path(&data).parent().unwrap().to_path_buf(),
        secrets_path(&data).with_file_name(LOCK_FILE),
    ] {
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (65534, 65534),
            "{} is not the box's",
            path.display()
        );
    }
    assert_eq!(mode(&secrets_path(&data)), 0o600);
    // A data folder of root's own stays root's.
    let own = temp("root-owned");
    update(&own, |_| Ok(())).unwrap();
    assert_eq!(std::fs::metadata(secrets_path(&own)).unwrap().uid(), 0);
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::remove_dir_all(&own).unwrap();
}
