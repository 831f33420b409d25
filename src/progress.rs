//! Progress reporting: a bar on a terminal, plain periodic lines otherwise, nothing when quiet.
//!
//! Library code reports through the `ProgressSink` trait; the CLI picks the implementation.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::units::Bytes;

/// Receives progress from long operations. Implementations must be cheap: `set_position` is
/// called for every few MiB processed.
pub trait ProgressSink: Sync {
    /// A new phase starts: `label` names it, `total` is its length in bytes.
    fn start(&self, label: &str, total: u64);
    /// Bytes of the current phase done so far.
    fn set_position(&self, done: u64);
    /// The current phase is over.
    fn finish(&self);
}

/// Reports nothing.
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn start(&self, _label: &str, _total: u64) {}
    fn set_position(&self, _done: u64) {}
    fn finish(&self) {}
}

/// The progress display chosen for the current stderr.
pub enum Progress {
    Bar(indicatif::ProgressBar),
    Lines(Mutex<LineState>),
    Quiet,
}

pub struct LineState {
    label: String,
    total: u64,
    done: u64,
    last: Instant,
}

/// How often plain progress lines are printed when stderr is not a terminal.
const LINE_INTERVAL: Duration = Duration::from_secs(5);

impl Progress {
    /// A bar when stderr is a terminal, plain lines when it is not, nothing when `quiet`.
    pub fn for_stderr(quiet: bool) -> Self {
        if quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            Progress::Bar(bar)
        } else {
            Progress::Lines(Mutex::new(LineState {
                label: String::new(),
                total: 0,
                done: 0,
                last: Instant::now(),
            }))
        }
    }
}

fn line(st: &LineState) -> String {
    let pct = if st.total == 0 {
        100.0
    } else {
        st.done as f64 * 100.0 / st.total as f64
    };
    format!(
        "{}: {:.0}% ({} / {} MiB)",
        st.label,
        pct,
        Bytes(st.done).mib(),
        Bytes(st.total).mib()
    )
}

impl ProgressSink for Progress {
    fn start(&self, label: &str, total: u64) {
        match self {
            Progress::Bar(b) => {
                b.reset();
                b.set_length(total);
                b.set_position(0);
                b.set_message(label.to_string());
            }
            Progress::Lines(m) => {
                if let Ok(mut st) = m.lock() {
                    st.label = label.to_string();
                    st.total = total;
                    st.done = 0;
                    st.last = Instant::now();
                }
            }
            Progress::Quiet => {}
        }
    }

    fn set_position(&self, done: u64) {
        match self {
            Progress::Bar(b) => b.set_position(done),
            Progress::Lines(m) => {
                if let Ok(mut st) = m.lock() {
                    st.done = done;
                    if st.last.elapsed() >= LINE_INTERVAL {
                        st.last = Instant::now();
                        eprintln!("{}", line(&st));
                    }
                }
            }
            Progress::Quiet => {}
        }
    }

    fn finish(&self) {
        match self {
            Progress::Bar(b) => b.finish_and_clear(),
            Progress::Lines(m) => {
                if let Ok(mut st) = m.lock() {
                    st.done = st.total;
                    eprintln!("{}", line(&st));
                }
            }
            Progress::Quiet => {}
        }
    }
}
