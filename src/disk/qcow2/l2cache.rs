//! A bounded cache of decoded L2 tables, shared between threads.

use std::sync::{Arc, Mutex};

/// Total bytes of L2 tables kept; one table maps cluster_size^2/8 bytes of disk
/// (512 MiB with 64 KiB clusters), so this covers any realistic disk.
const CACHE_BYTES: u64 = 32 << 20;
const MAX_TABLES: usize = 4096;

pub type Table = Arc<[u64]>;

pub struct L2Cache {
    max: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    tick: u64,
    /// (host offset of the table, last use, table); small, so a linear scan is fine.
    entries: Vec<(u64, u64, Table)>,
}

impl L2Cache {
    pub fn new(cluster_size: u64) -> L2Cache {
        let max = (CACHE_BYTES / cluster_size).clamp(1, MAX_TABLES as u64) as usize;
        L2Cache {
            max,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The table at host offset `off`, loading it with `load` on a miss. The load runs
    /// outside the lock; two threads missing at once both load, which is harmless.
    pub fn get<E>(&self, off: u64, load: impl FnOnce() -> Result<Vec<u64>, E>) -> Result<Table, E> {
        {
            let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            g.tick += 1;
            let tick = g.tick;
            // Sequential reads hit the most recent table: look from the back.
            if let Some(e) = g.entries.iter_mut().rev().find(|e| e.0 == off) {
                e.1 = tick;
                return Ok(e.2.clone());
            }
        }
        let table: Table = load()?.into();
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.entries.len() >= self.max
            && let Some(i) = g
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.1)
                .map(|(i, _)| i)
        {
            g.entries.swap_remove(i);
        }
        g.tick += 1;
        let tick = g.tick;
        g.entries.push((off, tick, table.clone()));
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used() {
        let c = L2Cache::new(CACHE_BYTES / 2); // room for two tables
        let loads = std::cell::Cell::new(0);
        let get = |off: u64| {
            c.get(off, || {
                loads.set(loads.get() + 1);
                Ok::<_, ()>(vec![off])
            })
            .expect("load")
        };
        assert_eq!(get(1)[0], 1);
        assert_eq!(get(2)[0], 2);
        assert_eq!(get(1)[0], 1); // hit; 2 is now the oldest
        assert_eq!(loads.get(), 2);
        get(3); // evicts 2
        get(1);
        assert_eq!(loads.get(), 3);
        get(2);
        assert_eq!(loads.get(), 4);
    }
}
