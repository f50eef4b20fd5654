//! Private files done carefully: 0700 directories, 0600 files, atomic replace (temp file + fsync +
//! rename, so Ctrl-C or a crash never leaves a half-written file), permission repair, and
//! cross-process advisory locks.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{io_error, Error, Kind, Result};

/// Creates `dir` (and parents) as 0700 when missing.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| io_error(format!("cannot create {}", dir.display()), e))
}

/// If `path` exists and is readable by group/others, tightens it to `mode` and returns the old
/// mode so the caller can warn.
pub(crate) fn repair_mode(path: &Path, mode: u32) -> Result<Option<u32>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(format!("cannot read {}", path.display()), e)),
        };
        let current = meta.permissions().mode() & 0o777;
        if current & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| {
                io_error(format!("cannot fix permissions of {}", path.display()), e)
            })?;
            return Ok(Some(current));
        }
        Ok(None)
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(None)
    }
}

/// Atomically replaces `path` with `data`, mode 0600.
pub(crate) fn write_private_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    ensure_private_dir(dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{file_name}.tmp.{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_error(format!("cannot write {}", path.display()), e));
    }
    Ok(())
}

/// An exclusive advisory lock on a file, released on drop (closing the descriptor releases it).
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
}

/// Takes an exclusive lock on `path`, waiting up to `timeout`.
///
/// # Errors
/// A timeout error when another process holds the lock for longer.
pub(crate) async fn lock_exclusive(path: PathBuf, timeout: Duration) -> Result<FileLock> {
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir)?;
    }
    let display = path.display().to_string();
    let task = tokio::task::spawn_blocking(move || -> std::io::Result<File> {
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let f = opts.open(&path)?;
        fs4::fs_std::FileExt::lock_exclusive(&f)?;
        Ok(f)
    });
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(Ok(file))) => Ok(FileLock { _file: file }),
        Ok(Ok(Err(e))) => Err(io_error(format!("cannot lock {display}"), e)),
        Ok(Err(e)) => Err(Error::new(Kind::Io, format!("cannot lock {display}: {e}"))),
        Err(_) => Err(Error::new(
            Kind::Timeout,
            format!("timed out waiting for the lock on {display}"),
        )
        .with_hint("Another process is refreshing credentials; try again")),
    }
}

/// Synchronous variant of [`lock_exclusive`] for short read-modify-write sections.
pub(crate) fn lock_exclusive_blocking(path: &Path) -> Result<FileLock> {
    if let Some(dir) = path.parent() {
        ensure_private_dir(dir)?;
    }
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let f = opts
        .open(path)
        .map_err(|e| io_error(format!("cannot open {}", path.display()), e))?;
    fs4::fs_std::FileExt::lock_exclusive(&f)
        .map_err(|e| io_error(format!("cannot lock {}", path.display()), e))?;
    Ok(FileLock { _file: f })
}
