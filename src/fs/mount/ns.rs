//! A private mount namespace for the process's mounts, held by one thread.
//!
//! `unshare(CLONE_NEWNS)` gives the calling thread its own copy of the mount table (with
//! propagation turned private, so nothing leaks back). Every mount and unmount the backend
//! does runs on that thread; the descriptors it hands back work from any thread. The host's
//! mount table is never touched: if cloudseal dies, even by SIGKILL, the namespace dies with
//! it, its mounts go away with their last descriptor, and the autoclear loop devices detach.

use std::sync::mpsc::{Sender, channel};
use std::sync::{Mutex, OnceLock};

use nix::errno::Errno;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};

type Job = Box<dyn FnOnce() + Send>;

/// Where the namespace keeps its mount points (over-mounted there, invisible outside).
pub const MOUNT_BASE: &str = "/tmp";

/// The thread that lives in the private namespace.
pub struct Namespace {
    jobs: Mutex<Sender<Job>>,
}

static NAMESPACE: OnceLock<Result<Namespace, Errno>> = OnceLock::new();

/// The process's private mount namespace, created on first use.
pub fn get() -> Result<&'static Namespace, Errno> {
    NAMESPACE
        .get_or_init(Namespace::start)
        .as_ref()
        .map_err(|e| *e)
}

impl Namespace {
    fn start() -> Result<Namespace, Errno> {
        let (jobs, rx) = channel::<Job>();
        let (ready_tx, ready_rx) = channel();
        std::thread::Builder::new()
            .name("cloudseal-mountns".into())
            .spawn(move || {
                let entered = unshare(CloneFlags::CLONE_NEWNS)
                    .and_then(|()| {
                        mount(
                            None::<&str>,
                            "/",
                            None::<&str>,
                            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                            None::<&str>,
                        )
                    })
                    .and_then(|()| {
                        // Mount points live on a tmpfs only this namespace sees: even a
                        // killed process leaves no empty directory on the host.
                        mount(
                            Some("cloudseal"),
                            MOUNT_BASE,
                            Some("tmpfs"),
                            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                            Some("mode=0700,size=64k,nr_inodes=1024"),
                        )
                    });
                let ok = entered.is_ok();
                let _ = ready_tx.send(entered);
                if ok {
                    for job in rx {
                        job();
                    }
                }
            })
            .map_err(|_| Errno::EAGAIN)?;
        ready_rx.recv().map_err(|_| Errno::ECHILD)??;
        Ok(Namespace {
            jobs: Mutex::new(jobs),
        })
    }

    /// Run `f` on the namespace's thread and wait for its result; `None` if the thread is
    /// gone (it only stops with the process, or if a job panicked).
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.jobs.lock().ok()?.send(job).ok()?;
        rx.recv().ok()
    }
}
