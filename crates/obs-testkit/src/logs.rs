//! Capturing the log lines obs writes.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use obs_core::logging::LogWriter;

/// A log sink that keeps every line in memory. Give [`LogCapture::writer`] to
/// `ObsConfig::builder().log_writer(..)`, then read [`LogCapture::lines`].
///
/// ```
/// let capture = obs_testkit::LogCapture::new();
/// let config = obs_core::ObsConfig::builder().log_writer(capture.writer()).build();
/// # drop(config);
/// assert!(capture.lines().is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// The writer to configure obs with.
    pub fn writer(&self) -> LogWriter {
        let buffer = self.buffer.clone();
        LogWriter::new(move || Box::new(Sink(buffer.clone())))
    }

    /// Everything written so far.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap_or_else(PoisonError::into_inner))
            .into_owned()
    }

    /// Every line written so far.
    pub fn lines(&self) -> Vec<String> {
        self.contents().lines().map(str::to_owned).collect()
    }

    /// Every line that contains `needle`.
    pub fn lines_containing(&self, needle: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.contains(needle))
            .collect()
    }
}
