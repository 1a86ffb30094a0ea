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
