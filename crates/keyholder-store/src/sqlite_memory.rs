//! SQLite's own allocations (issue 11). By default SQLite takes one process-wide mutex on every
//! `malloc` and `free` to keep memory statistics nobody here reads, then calls the C library's
//! allocator. sqlx copies each column of each row with `sqlite3_value_dup` on its worker thread
//! and frees the copies on the request's thread, so a list request took that mutex hundreds of
//! times against the other threads, and the C allocator's arenas with it (a twentieth of a list
//! request's time was spent waiting for them). Here the statistics are off and SQLite allocates
//! through the process's allocator (mimalloc in the binary), which frees across threads without
//! a lock.

use std::alloc::{Layout, alloc, dealloc, realloc};
use std::ffi::{c_int, c_void};
use std::ptr::null_mut;

/// Each block starts with its usable size, which SQLite asks for (`xSize`) and which `dealloc`
/// needs; eight bytes keep the block SQLite sees aligned to eight, as it requires.
const HEADER: usize = 8;

fn layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER)?, HEADER).ok()
}

/// The block's usable size and the pointer the allocator handed out.
///
/// # Safety
/// `p` was returned by [`x_malloc`] or [`x_realloc`] and not freed since.
unsafe fn block(p: *mut c_void) -> (usize, *mut u8) {
    // SAFETY: per the contract, `HEADER` bytes before `p` hold the size written at allocation.
    unsafe {
        let base = p.cast::<u8>().sub(HEADER);
        (base.cast::<usize>().read(), base)
    }
}

/// The layout of a block for a request of `n` bytes, rounded as `xRoundup` promises; none for
/// a negative or oversized request.
fn requested(n: c_int) -> Option<Layout> {
    if n < 0 {
        return None;
    }
    // SAFETY: a pure function of its argument.
    let n = unsafe { x_roundup(n) };
    usize::try_from(n).ok().and_then(layout)
}

/// Writes the usable size of a block the allocator just made with `layout` at `base` (null if
/// it failed) and hands SQLite the bytes after the header.
///
/// # Safety
/// `base` is null or the start of a live allocation of `layout`.
unsafe fn handed_out(base: *mut u8, layout: Layout) -> *mut c_void {
    if base.is_null() {
        return null_mut();
    }
    // SAFETY: the block is at least `HEADER` bytes and aligned to eight.
    unsafe {
        base.cast::<usize>().write(layout.size() - HEADER);
        base.add(HEADER).cast()
    }
}

unsafe extern "C" fn x_malloc(n: c_int) -> *mut c_void {
    let Some(layout) = requested(n) else {
        return null_mut();
    };
    // SAFETY: the layout is at least `HEADER` bytes, never zero-sized.
    unsafe { handed_out(alloc(layout), layout) }
}

unsafe extern "C" fn x_free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: SQLite frees only what `x_malloc`/`x_realloc` gave it, once; the layout is the one
    // the block was made with (its size is in the header).
    unsafe {
        let (size, base) = block(p);
        if let Some(layout) = layout(size) {
            dealloc(base, layout);
        }
    }
}

unsafe extern "C" fn x_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    if p.is_null() {
        // SAFETY: as `x_malloc`.
        return unsafe { x_malloc(n) };
    }
    let Some(new) = requested(n) else {
        return null_mut();
    };
    // SAFETY: `p` is a live block of ours (SQLite's contract); `realloc` gets the layout it was
    // made with and a non-zero new size of the same alignment.
    unsafe {
        let (size, base) = block(p);
        let Some(old) = layout(size) else {
            return null_mut();
        };
        handed_out(realloc(base, old, new.size()), new)
    }
}

unsafe extern "C" fn x_size(p: *mut c_void) -> c_int {
    if p.is_null() {
        return 0;
    }
    // SAFETY: as `x_free`.
    let (size, _) = unsafe { block(p) };
    c_int::try_from(size).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn x_roundup(n: c_int) -> c_int {
    n.checked_add(7).map_or(n, |m| m & !7)
}

unsafe extern "C" fn x_init(_: *mut c_void) -> c_int {
    libsqlite3_sys::SQLITE_OK
}

unsafe extern "C" fn x_shutdown(_: *mut c_void) {}

/// Once per process, before SQLite's first use (it refuses, harmlessly, once initialized).
pub(crate) fn configure() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let methods = libsqlite3_sys::sqlite3_mem_methods {
            xMalloc: Some(x_malloc),
            xFree: Some(x_free),
            xRealloc: Some(x_realloc),
            xSize: Some(x_size),
            xRoundup: Some(x_roundup),
            xInit: Some(x_init),
            xShutdown: Some(x_shutdown),
            pAppData: null_mut(),
        };
        // SAFETY: both options are set before SQLite is initialized (the first connection
        // initializes it, and every connection of this process is opened after this `Once`);
        // SQLite copies the methods before the call returns; the arguments are the types each
        // option documents (an int; a pointer to `sqlite3_mem_methods`).
        let (stats, malloc) = unsafe {
            (
                libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0 as c_int),
                libsqlite3_sys::sqlite3_config(
                    libsqlite3_sys::SQLITE_CONFIG_MALLOC,
                    &methods as *const libsqlite3_sys::sqlite3_mem_methods,
                ),
            )
        };
        if stats != libsqlite3_sys::SQLITE_OK || malloc != libsqlite3_sys::SQLITE_OK {
            // SQLite was in use already: it keeps its own allocator, which is slower, not wrong.
            tracing::warn!(stats, malloc, "SQLite's allocator could not be configured");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_their_size_and_content_through_realloc() {
        // SAFETY: the functions' own contract: blocks made here, freed once.
        unsafe {
            let p = x_malloc(13);
            assert!(!p.is_null());
            assert_eq!(x_size(p), x_roundup(13), "the size xRoundup promised");
            assert!(p.cast::<u64>().is_aligned());
            p.cast::<u8>().write_bytes(0xAB, 13);
            let q = x_realloc(p, 4000);
            assert_eq!(x_size(q), 4000);
            assert_eq!(std::slice::from_raw_parts(q.cast::<u8>(), 13), &[0xAB; 13]);
            let r = x_realloc(q, 4001);
            assert_eq!(x_size(r), 4008);
            x_free(r);
            assert!(x_malloc(-1).is_null());
            assert_eq!(x_roundup(13), 16);
            assert_eq!(x_roundup(16), 16);
            x_free(null_mut());
        }
    }
}
