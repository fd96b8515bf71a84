//! The resource sampler: process memory, open descriptors and scratch disk use read when the
//! metrics are rendered (no polling task), Tokio's stable runtime metrics, and the runtime's lag
//! measured by a periodic timer.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use obs_core::metrics::{HistogramVec, ScrapeCallback, on_scrape};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::catalog;

static LAG: HistogramVec = HistogramVec::new(&catalog::EVENT_LOOP_LAG);

/// Resident memory in MiB, from `VmRSS` in `/proc/self/status`; `None` where there is no `/proc`.
pub fn memory_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Open file descriptors, from `/proc/self/fd` (the descriptor used to read it not counted).
pub fn open_fds() -> Option<usize> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    Some(entries.count().saturating_sub(1))
}

/// Used space of the file system holding `dir`, in percent of the space users may use, as `df`
/// computes it: used / (used + available to unprivileged users).
pub fn disk_used_pct(dir: &Path) -> Option<f64> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    let used = stat.f_blocks.saturating_sub(stat.f_bfree) as f64;
    let total = used + stat.f_bavail as f64;
    (total > 0.0).then(|| used * 100.0 / total)
}

/// Samples the process' resources into metrics while it is alive; dropping it stops the
/// sampling (the scrape-time series leave `/metrics`, the lag timer stops).
///
/// | metric | how |
/// |---|---|
/// | `proc_memory_rss_mb` | `/proc/self/status`, at scrape time |
/// | `proc_open_fds` | `/proc/self/fd`, at scrape time |
/// | `scratch_disk_used_pct` | `statvfs` of the scratch directory, at scrape time (when set) |
/// | `event_loop_lag_ms` | a timer on the runtime every interval: how late it fired |
/// | `tokio_runtime_workers`, `tokio_runtime_alive_tasks`, `tokio_runtime_global_queue_depth` | the runtime's stable metrics, at scrape time |
///
/// ```
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let _sampler = obs_flows::ResourceSampler::builder()
///     .scratch_dir(std::env::temp_dir())
///     .lag_interval(Duration::from_millis(250))
///     .start();
/// # }
/// ```
#[derive(Debug)]
pub struct ResourceSampler {
    _callbacks: Vec<ScrapeCallback>,
    lag_task: Option<JoinHandle<()>>,
}

/// Configures a [`ResourceSampler`].
#[derive(Clone, Debug)]
pub struct ResourceSamplerBuilder {
    scratch: Option<PathBuf>,
    lag_interval: Duration,
}

impl ResourceSampler {
    /// A builder: no scratch directory, lag measured every 500 ms.
    pub fn builder() -> ResourceSamplerBuilder {
        ResourceSamplerBuilder {
            scratch: None,
            lag_interval: Duration::from_millis(500),
        }
    }
}

impl ResourceSamplerBuilder {
    /// The directory whose file system `scratch_disk_used_pct` reports.
    pub fn scratch_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.scratch = Some(dir.into());
        self
    }

    /// How often the lag timer fires (default 500 ms, at least 1 ms).
    pub fn lag_interval(mut self, every: Duration) -> Self {
        self.lag_interval = every.max(Duration::from_millis(1));
        self
    }

    /// Starts sampling. The runtime metrics and the lag timer are those of the Tokio runtime this
    /// is called on; outside one, only the process and disk gauges are sampled.
    pub fn start(self) -> ResourceSampler {
        crate::catalog::register();
        let mut callbacks = vec![
            on_scrape(&catalog::PROC_MEMORY_RSS, |o| {
                if let Some(mb) = memory_rss_mb() {
                    o.observe(&[], mb);
                }
            }),
            on_scrape(&catalog::PROC_OPEN_FDS, |o| {
                if let Some(fds) = open_fds() {
                    o.observe(&[], fds as f64);
                }
            }),
        ];
        if let Some(dir) = self.scratch {
            let dir = Arc::new(dir);
            callbacks.push(on_scrape(&catalog::SCRATCH_DISK_USED, move |o| {
                if let Some(pct) = disk_used_pct(&dir) {
                    o.observe(&[], pct);
                }
            }));
        }
        let mut lag_task = None;
        if let Ok(handle) = Handle::try_current() {
            let metrics = handle.metrics();
            let workers = metrics.clone();
            callbacks.push(on_scrape(&catalog::TOKIO_WORKERS, move |o| {
                o.observe(&[], workers.num_workers() as f64);
            }));
            let alive = metrics.clone();
            callbacks.push(on_scrape(&catalog::TOKIO_ALIVE_TASKS, move |o| {
                o.observe(&[], alive.num_alive_tasks() as f64);
            }));
            callbacks.push(on_scrape(&catalog::TOKIO_GLOBAL_QUEUE_DEPTH, move |o| {
                o.observe(&[], metrics.global_queue_depth() as f64);
            }));
            lag_task = Some(handle.spawn(measure_lag(self.lag_interval)));
        }
        ResourceSampler {
            _callbacks: callbacks,
            lag_task,
        }
    }
}

/// Sleeps `every` again and again, recording how much later than asked each sleep ended.
async fn measure_lag(every: Duration) {
    let lag = LAG.with(&[]);
    loop {
        let asked = Instant::now() + every;
        tokio::time::sleep_until(asked.into()).await;
        let late = Instant::now().saturating_duration_since(asked);
        lag.record(late.as_secs_f64() * 1_000.0);
    }
}

impl Drop for ResourceSampler {
    fn drop(&mut self) {
        if let Some(task) = self.lag_task.take() {
            task.abort();
        }
    }
}
