//! Unique networking per test daemon. Every pierd a test starts gets a
//! slot (0..256) held by an flock on `/tmp/pier-test-net/slot-N.lock` for
//! as long as the daemon lives, across test processes. The slot names the
//! default bridge (`ptbrN`), the nftables tables and interface marker
//! (`--network-instance ptN`), the default bridge subnet (`172.30.N.0/24`)
//! and the pool for user networks (a /18 in 100.64.0.0/10), so parallel
//! daemons never share a name or an address.

use std::os::fd::AsRawFd;
use std::process::Command;

pub struct NetSlot {
    pub index: u32,
    _lock: std::fs::File,
}

const SLOTS: u32 = 256;
const LOCK_DIR: &str = "/tmp/pier-test-net";

impl NetSlot {
    /// Takes a free slot and removes whatever a crashed holder left in it.
    pub fn acquire() -> NetSlot {
        std::fs::create_dir_all(LOCK_DIR).expect("create slot lock dir");
        let start = std::process::id() % SLOTS;
        for i in 0..SLOTS {
            let index = (start + i) % SLOTS;
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(format!("{LOCK_DIR}/slot-{index}.lock"))
                .expect("open slot lock");
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                let slot = NetSlot { index, _lock: f };
                slot.cleanup();
                return slot;
            }
        }
        panic!("no free network slot for a test daemon");
    }

    pub fn bridge(&self) -> String {
        format!("ptbr{}", self.index)
    }

    pub fn instance(&self) -> String {
        format!("pt{}", self.index)
    }

    /// The default bridge's subnet prefix, e.g. `172.30.7.`.
    pub fn bridge_prefix(&self) -> String {
        format!("172.30.{}.", self.index)
    }

    pub fn gateway(&self) -> String {
        format!("172.30.{}.1", self.index)
    }

    /// This daemon's pool for user networks.
    pub fn pool(&self) -> String {
        format!("100.{}.{}.0/18", 64 + self.index / 4, (self.index % 4) * 64)
    }

    /// A subnet inside nobody's pool for tests that pass `--subnet`.
    pub fn user_subnet(&self, n: u32) -> String {
        format!("10.{}.{}.0/24", 200 + n, self.index)
    }

    pub fn daemon_args(&self) -> Vec<String> {
        vec![
            "--bridge".into(),
            self.bridge(),
            "--bip".into(),
            format!("{}/24", self.gateway()),
            "--default-address-pool".into(),
            format!("base={},size=24", self.pool()),
            "--network-instance".into(),
            self.instance(),
        ]
    }

    /// Our nftables tables that exist now.
    pub fn nft_tables(&self) -> Vec<String> {
        let out = Command::new("nft")
            .args(["list", "tables"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default();
        let mine = [
            format!("table inet {}", self.instance()),
            format!("table ip {}-nat", self.instance()),
        ];
        out.lines()
            .map(str::trim)
            .filter(|l| mine.iter().any(|m| m == l))
            .map(str::to_owned)
            .collect()
    }

    /// Links carrying our marker (bridges, veths) that exist now.
    pub fn links(&self) -> Vec<String> {
        let out = Command::new("ip")
            .args(["-d", "-o", "link", "show"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default();
        let marker = format!("alias {}:", self.instance());
        out.lines()
            .filter(|l| l.contains(&marker))
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
            .collect()
    }

    /// Removes our links and tables (after a kill -9 or a crashed test).
    pub fn cleanup(&self) {
        for l in self.links() {
            let _ = Command::new("ip").args(["link", "del", &l]).output();
        }
        for t in self.nft_tables() {
            let parts: Vec<&str> = t.split_whitespace().collect();
            if parts.len() == 3 {
                let _ = Command::new("nft")
                    .args(["delete", "table", parts[1], parts[2]])
                    .output();
            }
        }
    }
}
