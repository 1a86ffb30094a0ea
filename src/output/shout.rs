//! A thin wrapper of our own over libshout (`shout-sys`), rather than the
//! `shout` crate: that crate panics on libshout error codes it does not
//! know, offers no non-blocking connect, and reports a wrong password and a
//! busy mount alike with no way to tell them apart, where the station needs
//! to show "refused" and "mount in use" differently.

use std::ffi::{CStr, CString};
use std::sync::Once;

pub(super) const SHOUTERR_SUCCESS: i32 = 0;
pub(super) const SHOUTERR_NOCONNECT: i32 = -2;
pub(super) const SHOUTERR_NOLOGIN: i32 = -3;
pub(super) const SHOUTERR_SOCKET: i32 = -4;
pub(super) const SHOUTERR_CONNECTED: i32 = -7;
pub(super) const SHOUTERR_BUSY: i32 = -10;
pub(super) const SHOUTERR_RETRY: i32 = -13;
pub(super) const SHOUT_FORMAT_MP3: u32 = 1;
pub(super) const SHOUT_PROTOCOL_HTTP: u32 = 0;
pub(super) const SHOUT_TLS_DISABLED: i32 = 0;

static SHOUT_INIT: Once = Once::new();

/// One libshout connection. It is only ever used by one thread at a time
/// (the output's), which is all libshout asks; it is created there.
pub(super) struct Shout {
    pub(super) raw: *mut shout_sys::Shout,
}

// SAFETY: a shout_t holds no thread-bound state (no thread locals, no
// thread-affine handles); it only must not be used from two threads at
// once, which `Send` without `Sync` guarantees.
unsafe impl Send for Shout {}

pub(super) type SetStr =
    unsafe extern "C" fn(*mut shout_sys::Shout, *const libc::c_char) -> libc::c_int;
pub(super) type SetPair = unsafe extern "C" fn(
    *mut shout_sys::Shout,
    *const libc::c_char,
    *const libc::c_char,
) -> libc::c_int;

impl Shout {
    pub(super) fn new() -> Result<Self, String> {
        SHOUT_INIT.call_once(|| unsafe { shout_sys::shout_init() });
        let raw = unsafe { shout_sys::shout_new() };
        if raw.is_null() {
            return Err("libshout could not allocate a connection (out of memory)".to_string());
        }
        Ok(Shout { raw })
    }

    pub(super) fn error_text(&self) -> String {
        let text = unsafe { shout_sys::shout_get_error(self.raw) };
        if text.is_null() {
            return "unknown error".to_string();
        }
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    }

    pub(super) fn set_str(&self, set: SetStr, value: &str) -> i32 {
        match CString::new(value) {
            Ok(value) => unsafe { set(self.raw, value.as_ptr()) },
            Err(_) => -1,
        }
    }

    pub(super) fn set_pair(&self, set: SetPair, key: &str, value: Option<String>) -> i32 {
        let Some(value) = value else {
            return SHOUTERR_SUCCESS;
        };
        match (CString::new(key), CString::new(value)) {
            (Ok(key), Ok(value)) => unsafe { set(self.raw, key.as_ptr(), value.as_ptr()) },
            _ => -1,
        }
    }

    /// The stream title, in UTF-8 and said so: without the charset the
    /// server reads it as Latin-1 and listeners see it garbled.
    pub(super) fn set_title(&self, title: &str) -> Result<(), String> {
        let title = CString::new(title.replace('\0', ""))
            .map_err(|_| "the title holds a NUL byte".to_string())?;
        let metadata = unsafe { shout_sys::shout_metadata_new() };
        if metadata.is_null() {
            return Err("out of memory".to_string());
        }
        let code = unsafe {
            let song = shout_sys::shout_metadata_add(metadata, c"song".as_ptr(), title.as_ptr());
            let charset =
                shout_sys::shout_metadata_add(metadata, c"charset".as_ptr(), c"UTF-8".as_ptr());
            let sent = if song == SHOUTERR_SUCCESS && charset == SHOUTERR_SUCCESS {
                shout_sys::shout_set_metadata(self.raw, metadata)
            } else {
                -1
            };
            shout_sys::shout_metadata_free(metadata);
            sent
        };
        if code == SHOUTERR_SUCCESS {
            Ok(())
        } else {
            Err(self.error_text())
        }
    }
}

impl Drop for Shout {
    fn drop(&mut self) {
        unsafe {
            shout_sys::shout_close(self.raw);
            shout_sys::shout_free(self.raw);
        }
    }
}
