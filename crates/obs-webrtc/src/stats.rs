//! The stats poller: reads `get_stats()` at an interval into bounded histograms.
//!
//! webrtc-rs 0.21 fills the selected candidate pair's `current_round_trip_time` (seconds) while
//! remote-inbound-rtp's `round_trip_time` and `fraction_lost` stay 0, and reports inbound-rtp
//! `jitter` in RTP clock units. So RTT comes from the candidate pair, loss from the deltas of
//! inbound-rtp `packets_received` and `packets_lost` between polls, and jitter is divided by the
//! codec's clock rate. Counters are cumulative: bitrates are byte deltas over the poll interval.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use obs_core::metrics::{GaugeVec, HistogramVec};
use rtc::statistics::stats::ice_candidate::RTCIceCandidateStats;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidateType, RTCStatsReport, RTCStatsReportEntry, StatsSelector,
};

use crate::catalog;
use crate::quality::quality_score;
use crate::state::{ConnectionState, TURN_RELAY};

static RTT: HistogramVec = HistogramVec::new(&catalog::RTT);
static PACKET_LOSS: HistogramVec = HistogramVec::new(&catalog::PACKET_LOSS);
static JITTER: HistogramVec = HistogramVec::new(&catalog::JITTER);
static BITRATE: HistogramVec = HistogramVec::new(&catalog::BITRATE);
static FRAME_RATE: HistogramVec = HistogramVec::new(&catalog::FRAME_RATE);
static QUALITY_SCORE: HistogramVec = HistogramVec::new(&catalog::QUALITY_SCORE);
static PEER_RTT: GaugeVec = GaugeVec::new(&catalog::PEER_RTT);
static PEER_QUALITY_SCORE: GaugeVec = GaugeVec::new(&catalog::PEER_QUALITY_SCORE);

/// How the poller runs.
#[derive(Debug, Clone)]
pub(crate) struct PollerConfig {
    /// `None` turns the poller off.
    pub(crate) interval: Option<Duration>,
    pub(crate) per_connection_gauges: bool,
}

impl Default for PollerConfig {
    fn default() -> Self {
        Self {
            interval: Some(crate::peer::DEFAULT_STATS_INTERVAL),
            per_connection_gauges: false,
        }
    }
}

/// A running poller: dropping `stop` ends the task at its next wake-up.
pub(crate) struct Poller {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Poller {
    /// Spawns the poller on the current Tokio runtime; `None` when it is off or there is none.
    pub(crate) fn start(
        config: &PollerConfig,
        pc: Arc<dyn PeerConnection>,
        state: Arc<ConnectionState>,
    ) -> Option<Self> {
        let interval = config.interval.filter(|i| !i.is_zero())?;
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (stop, stopped) = oneshot::channel();
        let gauges = config.per_connection_gauges;
        let task = runtime.spawn(run(pc, state, interval, gauges, stopped));
        Some(Self { stop, task })
    }

    /// Stops the task and waits until it has finished.
    pub(crate) async fn stop(self) {
        drop(self.stop);
        let _ = self.task.await;
    }
}

async fn run(
    pc: Arc<dyn PeerConnection>,
    state: Arc<ConnectionState>,
    interval: Duration,
    per_connection_gauges: bool,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let labels = [
        state.context.room_id.as_ref(),
        state.context.participant_id.as_ref(),
    ];
    let mut previous: Option<Reading> = None;
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = ticker.tick() => {}
        }
        let report = tokio::select! {
            _ = &mut stopped => break,
            report = pc.get_stats(Instant::now(), StatsSelector::None) => report,
        };
        let mut reading = Reading::from_report(&report, Instant::now());
        reading.video_frames = state.video_frame_counts();
        if !state.relay_checked.load(Ordering::Relaxed)
            && let Some(relay) = reading.relay
        {
            state.relay_checked.store(true, Ordering::Relaxed);
            if relay {
                TURN_RELAY.with(&[]).increment(1);
            }
        }
        let figures = reading.figures(previous.as_ref());
        figures.record();
        if per_connection_gauges {
            if let Some(rtt) = figures.rtt_ms {
                PEER_RTT.with(&labels).set(rtt);
            }
            PEER_QUALITY_SCORE.with(&labels).set(figures.score);
        }
        previous = Some(reading);
    }
    if per_connection_gauges {
        PEER_RTT.remove(&labels);
        PEER_QUALITY_SCORE.remove(&labels);
    }
}

/// The cumulative counters and instant values of one `get_stats()` report.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Reading {
    pub(crate) at: Option<Instant>,
    pub(crate) rtt_ms: Option<f64>,
    /// Whether the selected pair's local candidate is a relay; `None` before one is selected.
    pub(crate) relay: Option<bool>,
    pub(crate) inbound_streams: usize,
    pub(crate) outbound_streams: usize,
    pub(crate) packets_received: u64,
    pub(crate) packets_lost: u64,
    pub(crate) bytes_received: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) jitter_ms: Vec<f64>,
    /// Frames per second as webrtc-rs reports them (0.21 leaves them at 0, so this stays empty).
    pub(crate) frame_rates: Vec<f64>,
    /// Frames counted on each remote video track so far ([`crate::track`]), in arrival order.
    pub(crate) video_frames: Vec<u64>,
}

impl Reading {
    pub(crate) fn from_report(report: &RTCStatsReport, at: Instant) -> Self {
        let mut reading = Self {
            at: Some(at),
            ..Self::default()
        };
        let selected = report.candidate_pairs().find(|p| p.nominated).or_else(|| {
            report
                .candidate_pairs()
                .find(|p| p.current_round_trip_time > 0.0)
        });
        if let Some(pair) = selected {
            if pair.current_round_trip_time > 0.0 {
                reading.rtt_ms = Some(pair.current_round_trip_time * 1_000.0);
            }
            if let Some(local) = local_candidate(report, &pair.local_candidate_id) {
                reading.relay = Some(local.candidate_type == RTCIceCandidateType::Relay);
            }
        }
        for inbound in report.inbound_rtp_streams() {
            let received = &inbound.received_rtp_stream_stats;
            reading.inbound_streams += 1;
            reading.packets_received += received.packets_received;
            reading.packets_lost += u64::try_from(received.packets_lost).unwrap_or(0);
            reading.bytes_received += inbound.bytes_received;
            let codec_id = &received.rtp_stream_stats.codec_id;
            if let Some(RTCStatsReportEntry::Codec(codec)) = report.get(codec_id)
                && codec.clock_rate > 0
            {
                reading
                    .jitter_ms
                    .push(received.jitter / f64::from(codec.clock_rate) * 1_000.0);
            }
            if received.rtp_stream_stats.kind.to_string() == "video"
                && inbound.frames_per_second > 0.0
            {
                reading.frame_rates.push(inbound.frames_per_second);
            }
        }
        for outbound in report.outbound_rtp_streams() {
            reading.outbound_streams += 1;
            reading.bytes_sent += outbound.sent_rtp_stream_stats.bytes_sent;
        }
        reading
    }

    /// The figures of this poll; rates and loss need the previous reading.
    pub(crate) fn figures(&self, previous: Option<&Reading>) -> Figures {
        let mut figures = Figures {
            rtt_ms: self.rtt_ms,
            jitter_ms: self.jitter_ms.clone(),
            frame_rates: self.frame_rates.clone(),
            ..Figures::default()
        };
        if let Some(previous) = previous {
            let received = self
                .packets_received
                .saturating_sub(previous.packets_received);
            let lost = self.packets_lost.saturating_sub(previous.packets_lost);
            if received + lost > 0 {
                figures.loss_percent = Some(lost as f64 * 100.0 / (received + lost) as f64);
            }
            let seconds = match (self.at, previous.at) {
                (Some(now), Some(then)) => now.saturating_duration_since(then).as_secs_f64(),
                _ => 0.0,
            };
            if seconds > 0.0 {
                // A track that appeared since the previous poll gets its first rate next poll.
                let counted = self
                    .video_frames
                    .iter()
                    .zip(&previous.video_frames)
                    .map(|(now, then)| now.saturating_sub(*then) as f64 / seconds);
                if !self.video_frames.is_empty() {
                    figures.frame_rates = counted.collect();
                }
                let kbps =
                    |now: u64, then: u64| now.saturating_sub(then) as f64 * 8.0 / seconds / 1_000.0;
                if self.inbound_streams > 0 {
                    figures.inbound_kbps = Some(kbps(self.bytes_received, previous.bytes_received));
                }
                if self.outbound_streams > 0 {
                    figures.outbound_kbps = Some(kbps(self.bytes_sent, previous.bytes_sent));
                }
            }
        }
        let worst_jitter = figures.jitter_ms.iter().copied().reduce(f64::max);
        figures.score = quality_score(figures.rtt_ms, figures.loss_percent, worst_jitter);
        figures
    }
}

/// The local candidate a candidate pair names. webrtc-rs 0.21 names it by the candidate's id
/// (`candidate:…`) while the candidate's own entry is `RTCLocalIceCandidate_candidate:…`, so both
/// forms are looked up.
fn local_candidate<'r>(report: &'r RTCStatsReport, id: &str) -> Option<&'r RTCIceCandidateStats> {
    let entry = report
        .get(id)
        .or_else(|| report.get(&format!("RTCLocalIceCandidate_{id}")));
    match entry {
        Some(RTCStatsReportEntry::LocalCandidate(local)) => Some(local),
        _ => None,
    }
}

/// What one poll records.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Figures {
    pub(crate) rtt_ms: Option<f64>,
    pub(crate) loss_percent: Option<f64>,
    pub(crate) jitter_ms: Vec<f64>,
    pub(crate) inbound_kbps: Option<f64>,
    pub(crate) outbound_kbps: Option<f64>,
    pub(crate) frame_rates: Vec<f64>,
    pub(crate) score: f64,
}

impl Figures {
    pub(crate) fn record(&self) {
        if let Some(rtt) = self.rtt_ms {
            RTT.with(&[]).record(rtt);
        }
        if let Some(loss) = self.loss_percent {
            PACKET_LOSS.with(&[]).record(loss);
        }
        for jitter in &self.jitter_ms {
            JITTER.with(&[]).record(*jitter);
        }
        if let Some(kbps) = self.inbound_kbps {
            BITRATE.with(&["inbound"]).record(kbps);
        }
        if let Some(kbps) = self.outbound_kbps {
            BITRATE.with(&["outbound"]).record(kbps);
        }
        for fps in &self.frame_rates {
            FRAME_RATE.with(&[]).record(*fps);
        }
        QUALITY_SCORE.with(&[]).record(self.score);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_bitrate_are_deltas_between_polls() {
        let start = Instant::now();
        let first = Reading {
            at: Some(start),
            inbound_streams: 1,
            outbound_streams: 1,
            packets_received: 100,
            packets_lost: 0,
            bytes_received: 10_000,
            bytes_sent: 20_000,
            ..Reading::default()
        };
        let second = Reading {
            at: Some(start + Duration::from_secs(2)),
            rtt_ms: Some(2.0),
            packets_received: 190,
            packets_lost: 10,
            bytes_received: 35_000,
            bytes_sent: 20_000,
            jitter_ms: vec![5.0],
            ..first.clone()
        };
        let none = first.figures(None);
        assert_eq!(none.loss_percent, None);
        assert_eq!(none.inbound_kbps, None);
        let figures = second.figures(Some(&first));
        assert_eq!(figures.loss_percent, Some(10.0));
        assert_eq!(figures.inbound_kbps, Some(100.0));
        assert_eq!(figures.outbound_kbps, Some(0.0));
        assert_eq!(
            figures.score,
            quality_score(Some(2.0), Some(10.0), Some(5.0))
        );
    }

    #[test]
    fn frame_rates_are_counted_frames_per_second() {
        let start = Instant::now();
        let first = Reading {
            at: Some(start),
            video_frames: vec![10],
            ..Reading::default()
        };
        let second = Reading {
            at: Some(start + Duration::from_millis(500)),
            video_frames: vec![25, 4],
            ..Reading::default()
        };
        assert!(first.figures(None).frame_rates.is_empty());
        // The second track appeared since the first poll: its rate comes next poll.
        assert_eq!(second.figures(Some(&first)).frame_rates, vec![30.0]);
    }

    #[test]
    fn counters_that_go_back_count_as_zero() {
        let start = Instant::now();
        let first = Reading {
            at: Some(start),
            inbound_streams: 1,
            packets_received: 100,
            packets_lost: 5,
            bytes_received: 1_000,
            ..Reading::default()
        };
        let reset = Reading {
            at: Some(start + Duration::from_secs(1)),
            packets_received: 10,
            packets_lost: 0,
            bytes_received: 0,
            ..first.clone()
        };
        let figures = reset.figures(Some(&first));
        assert_eq!(figures.loss_percent, None);
        assert_eq!(figures.inbound_kbps, Some(0.0));
    }
}
