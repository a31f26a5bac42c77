//! A VFS over SQLite's default one that hands the log frames of a commit to
//! the kernel in one write.
//!
//! SQLite writes each WAL frame with two `pwrite`s, its 24-byte header and then
//! its page, so a commit of forty pages made eighty system calls; and a frame
//! is not page-aligned, so each of them touched two or three pages of the page
//! cache. Those writes were a sixth of hookd's CPU time, all of it on the group
//! committer, through which every publish passes one at a time. Here the
//! frames are gathered as SQLite writes them and written out when it syncs.
//!
//! Why this is safe: another connection reads a frame only after the commit
//! that wrote it has synced the log and then published the frame in the shared
//! index. The writer connection runs with `synchronous=FULL` (checked when it
//! opens), which syncs the log at every commit. Anything that reads the log,
//! asks its size, truncates, syncs or closes it writes what is gathered first,
//! so SQLite's own reads of the log see what it wrote.
//!
//! Only the log files of connections opened with [`NAME`] are wrapped; the
//! database file and every other connection use SQLite's VFS unchanged.

use std::ffi::{c_int, c_void};
use std::mem::{align_of, size_of};
use std::ptr;
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name to open a connection with.
pub const NAME: &str = "hookd-wal";

/// The most SQLite's unix VFS writes in one call (it masks the length with
/// `0x1ffff`, and a longer write comes back short, as a full disk). Thirty
/// frames of 4 KiB pages fit.
const MAX_WRITE: usize = 0x1ffff;

/// The frames of the current commit, from `start` in the log file.
struct Gathered {
    start: i64,
    bytes: Vec<u8>,
}

/// What the wrapped files share: the VFS underneath, and the methods table of
/// its log files with the writing calls replaced.
struct Shared {
    parent: *mut ffi::sqlite3_vfs,
    /// Where in a file's allocation, after the parent's own file object, the
    /// pointer to its `Gathered` is kept.
    slot_at: usize,
    methods: OnceLock<Methods>,
}

struct Methods {
    parent: *const ffi::sqlite3_io_methods,
    ours: ffi::sqlite3_io_methods,
}

// SAFETY: the pointers are to SQLite's VFS and methods tables, which live as
// long as the process and are only read.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}
unsafe impl Send for Methods {}
unsafe impl Sync for Methods {}

static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();

/// Registers the VFS (once per process) under [`NAME`].
pub fn register() -> Result<(), String> {
    SHARED
        .get_or_init(|| unsafe { install() })
        .as_ref()
        .map(|_| ())
        .map_err(Clone::clone)
}

unsafe fn install() -> Result<Shared, String> {
    // SAFETY: `sqlite3_vfs_find` initialises SQLite and returns the default
    // VFS, which lives as long as the process.
    let parent = unsafe { ffi::sqlite3_vfs_find(ptr::null()) };
    if parent.is_null() {
        return Err("SQLite has no default VFS".into());
    }
    let parent_size = unsafe { (*parent).szOsFile } as usize;
    let slot_at = parent_size.next_multiple_of(align_of::<*mut Gathered>());
    // Everything but the name, the file size and `xOpen` is the parent's:
    // those calls take no file, and read nothing of ours from the VFS.
    let mut vfs = unsafe { ptr::read(parent) };
    vfs.zName = c"hookd-wal".as_ptr();
    vfs.szOsFile = (slot_at + size_of::<*mut Gathered>()) as c_int;
    vfs.xOpen = Some(open);
    vfs.pNext = ptr::null_mut();
    let vfs = Box::leak(Box::new(vfs));
    let shared = Shared {
        parent,
        slot_at,
        methods: OnceLock::new(),
    };
    // SAFETY: the VFS is leaked, so it outlives every connection that uses it.
    let rc = unsafe { ffi::sqlite3_vfs_register(vfs, 0) };
    if rc != ffi::SQLITE_OK {
        return Err(format!("registering the {NAME} VFS failed ({rc})"));
    }
    Ok(shared)
}

fn shared() -> &'static Shared {
    match SHARED.get() {
        Some(Ok(s)) => s,
        // `open` is only reachable through the registered VFS.
        _ => unreachable!("the {NAME} VFS is used before it is registered"),
    }
}

/// The pointer to a wrapped file's `Gathered`, kept after the parent's object.
unsafe fn slot(file: *mut ffi::sqlite3_file) -> *mut *mut Gathered {
    unsafe { file.cast::<u8>().add(shared().slot_at).cast() }
}

unsafe fn gathered<'a>(file: *mut ffi::sqlite3_file) -> &'a mut Gathered {
    // SAFETY: only files whose slot holds a live `Gathered` get our methods.
    unsafe { &mut **slot(file) }
}

fn parent_methods() -> &'static ffi::sqlite3_io_methods {
    let m = shared().methods.get().expect("a wrapped file exists");
    // SAFETY: the parent's methods table is static in SQLite.
    unsafe { &*m.parent }
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const std::ffi::c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let shared = shared();
    unsafe {
        *slot(file) = ptr::null_mut();
        let parent_open = (*shared.parent).xOpen.expect("a VFS opens files");
        let rc = parent_open(shared.parent, name, file, flags, out_flags);
        if rc != ffi::SQLITE_OK || flags & ffi::SQLITE_OPEN_WAL == 0 || (*file).pMethods.is_null() {
            return rc;
        }
        let found = (*file).pMethods;
        let methods = shared.methods.get_or_init(|| Methods {
            parent: found,
            ours: ffi::sqlite3_io_methods {
                xClose: Some(close),
                xRead: Some(read),
                xWrite: Some(write),
                xTruncate: Some(truncate),
                xSync: Some(sync),
                xFileSize: Some(file_size),
                xFileControl: Some(file_control),
                ..*found
            },
        });
        // A log opened with other methods (another locking style) is left as it is.
        if methods.parent == found {
            *slot(file) = Box::into_raw(Box::new(Gathered {
                start: 0,
                bytes: Vec::with_capacity(MAX_WRITE),
            }));
            (*file).pMethods = &methods.ours;
        }
        rc
    }
}

/// Writes what is gathered, if anything.
unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
    let g = unsafe { gathered(file) };
    if g.bytes.is_empty() {
        return ffi::SQLITE_OK;
    }
    let write = parent_methods().xWrite.expect("files are written");
    let rc = unsafe { write(file, g.bytes.as_ptr().cast(), g.bytes.len() as c_int, g.start) };
    g.bytes.clear();
    rc
}

unsafe extern "C" fn write(file: *mut ffi::sqlite3_file, data: *const c_void, amount: c_int, offset: i64) -> c_int {
    unsafe {
        let g = gathered(file);
        // Only a run of adjacent writes is gathered; SQLite rewriting an
        // earlier frame of the same commit starts a new run after the old one
        // is written, so the later bytes still win.
        let adjacent = g.start + g.bytes.len() as i64 == offset;
        if !g.bytes.is_empty() && (!adjacent || g.bytes.len() + amount as usize > MAX_WRITE) {
            let rc = flush(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        let g = gathered(file);
        if g.bytes.is_empty() {
            g.start = offset;
        }
        g.bytes
            .extend_from_slice(std::slice::from_raw_parts(data.cast::<u8>(), amount as usize));
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let flushed = flush(file);
        drop(Box::from_raw(*slot(file)));
        *slot(file) = ptr::null_mut();
        let closed = (parent_methods().xClose.expect("files close"))(file);
        if flushed != ffi::SQLITE_OK { flushed } else { closed }
    }
}

unsafe extern "C" fn read(file: *mut ffi::sqlite3_file, buf: *mut c_void, amount: c_int, offset: i64) -> c_int {
    unsafe {
        match flush(file) {
            ffi::SQLITE_OK => (parent_methods().xRead.expect("files are read"))(file, buf, amount, offset),
            rc => rc,
        }
    }
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    unsafe {
        match flush(file) {
            ffi::SQLITE_OK => (parent_methods().xTruncate.expect("files truncate"))(file, size),
            rc => rc,
        }
    }
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    unsafe {
        match flush(file) {
            ffi::SQLITE_OK => (parent_methods().xSync.expect("files sync"))(file, flags),
            rc => rc,
        }
    }
}

unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    unsafe {
        match flush(file) {
            ffi::SQLITE_OK => (parent_methods().xFileSize.expect("files have a size"))(file, size),
            rc => rc,
        }
    }
}

unsafe extern "C" fn file_control(file: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    unsafe {
        match flush(file) {
            ffi::SQLITE_OK => (parent_methods().xFileControl.expect("files take controls"))(file, op, arg),
            rc => rc,
        }
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, OpenFlags};

    fn open(path: &std::path::Path, ours: bool) -> Connection {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let conn = if ours {
            super::register().unwrap();
            Connection::open_with_flags_and_vfs(path, flags, super::NAME).unwrap()
        } else {
            Connection::open_with_flags(path, flags).unwrap()
        };
        // A small checkpoint threshold, so that the log is copied back and
        // restarted many times over.
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=50;")
            .unwrap();
        conn
    }

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap()
    }

    /// Small commits, commits far larger than one gathered write, and a
    /// rolled-back transaction: another connection on SQLite's own VFS sees
    /// every commit as soon as it returns, and the file is whole afterwards.
    #[test]
    fn commits_are_seen_at_once_and_the_file_stays_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = open(&path, true);
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
            .unwrap();
        let reader = open(&path, false);
        let mut expected = 0;
        for round in 0..200i64 {
            // Every tenth commit writes about 2 MiB: many frames past one write.
            let rows = if round % 10 == 0 { 500 } else { 3 };
            let tx = writer.unchecked_transaction().unwrap();
            for _ in 0..rows {
                tx.execute("INSERT INTO t (body) VALUES (?1)", ["x".repeat(4000)])
                    .unwrap();
            }
            tx.commit().unwrap();
            expected += rows;
            assert_eq!(count(&reader), expected, "round {round}");
        }
        let tx = writer.unchecked_transaction().unwrap();
        tx.execute("INSERT INTO t (body) VALUES ('gone')", []).unwrap();
        tx.rollback().unwrap();
        assert_eq!(count(&reader), expected);
        let check: String = reader.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok");
        drop((writer, reader));
        assert_eq!(count(&open(&path, false)), expected);
    }
}
