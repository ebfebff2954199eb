//! Keeping the monitor's memory small.
//!
//! Every page fault on the binary maps a whole window of pages around the
//! faulting one (the kernel's fault-around), so the code that setup, START
//! or a burst of requests ran through stays mapped and counts towards the
//! monitor's PSS (the shim's binary is mapped by no one else). When the
//! monitor goes idle, [`Releaser::release`] unmaps every page that is still
//! an unmodified page of a file: code and read-only data come back on
//! demand from the page cache, so an idle monitor keeps only the pages its
//! poll loop touches. Pages with private changes (the GOT, `.data`, heap,
//! stack) are left alone: `/proc/self/pagemap` tells them apart.

use std::io::{Read, Seek, SeekFrom};

const PAGE: usize = 4096;
const PM_PRESENT: u64 = 1 << 63;
const PM_FILE: u64 = 1 << 61;

#[derive(Clone, Copy)]
struct Mapping {
    start: usize,
    end: usize,
}

/// Unmaps clean file pages of this process; remembers the mappings.
#[derive(Default)]
pub struct Releaser {
    mappings: Option<Vec<Mapping>>,
    pagemap: Option<std::fs::File>,
}

fn file_mappings() -> Vec<Mapping> {
    let mut maps = String::new();
    if std::fs::File::open("/proc/self/maps")
        .and_then(|mut f| f.read_to_string(&mut maps))
        .is_err()
    {
        return Vec::new();
    }
    let exe = std::fs::read_link("/proc/self/exe").unwrap_or_default();
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        let path = f.nth(3).unwrap_or("");
        // The binary's private mappings: libraries are shared with every
        // process on the host and cost the monitor next to nothing.
        if path.is_empty() || std::path::Path::new(path) != exe || !perms.ends_with('p') {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        if let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
            out.push(Mapping { start, end });
        }
    }
    out
}

#[link_section = ".text.hot.pier_monitor"]
fn dontneed(start: usize, end: usize) {
    if end > start {
        // SAFETY: the range lies in a private file mapping and holds only
        // pages identical to the file (checked via pagemap), so dropping
        // them loses nothing: they are re-read from the page cache.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

impl Releaser {
    pub fn new() -> Releaser {
        Releaser::default()
    }

    /// Unmaps the clean file pages of the binary.
    #[link_section = ".text.hot.pier_monitor"]
    pub fn release(&mut self) {
        if self.mappings.is_none() {
            self.mappings = Some(file_mappings());
            self.pagemap = std::fs::File::open("/proc/self/pagemap").ok();
        }
        let (Some(maps), Some(pagemap)) = (self.mappings.as_ref(), self.pagemap.as_mut()) else {
            return;
        };
        let mut entries = [0u8; 8 * 128];
        for m in maps {
            let mut run_start: Option<usize> = None;
            let mut addr = m.start;
            while addr < m.end {
                let pages = ((m.end - addr) / PAGE).min(128);
                let buf = &mut entries[..pages * 8];
                if pagemap
                    .seek(SeekFrom::Start((addr / PAGE * 8) as u64))
                    .and_then(|_| pagemap.read_exact(buf))
                    .is_err()
                {
                    return;
                }
                for (i, e) in buf.chunks_exact(8).enumerate() {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(e);
                    let v = u64::from_ne_bytes(b);
                    let page = addr + i * PAGE;
                    let clean_file = v & PM_PRESENT != 0 && v & PM_FILE != 0;
                    match (clean_file, run_start) {
                        (true, None) => run_start = Some(page),
                        (false, Some(s)) => {
                            dontneed(s, page);
                            run_start = None;
                        }
                        _ => {}
                    }
                }
                addr += pages * PAGE;
            }
            if let Some(s) = run_start {
                dontneed(s, m.end);
            }
        }
        // SAFETY: malloc_trim only returns free heap memory to the kernel.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
