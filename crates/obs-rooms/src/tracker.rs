//! The live rooms: who is in each, since when, whether it records.
//!
//! The gauges are not written by the operations: each rendering of the metrics reads them from
//! the trackers alive in the process (one set of obs-core scrape callbacks for all of them), under
//! each tracker's lock. So concurrent joins and leaves can never leave a gauge different from the
//! tracked state, a closed room is simply no longer observed (its series leaves `/metrics` at the
//! next rendering), a dropped tracker takes its rooms' series with it, and the values survive a
//! change of recorder (`obs_core::init` after the first rooms, a test's local recorder), which
//! gauges written once per change would not.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use obs_core::metrics::{HistogramVec, Observations, ScrapeCallback, on_scrape};

use crate::catalog;
use crate::types::{ParticipantType, RoomSpec};

static SESSION_DURATION: HistogramVec = HistogramVec::new(&catalog::ROOM_SESSION_DURATION);

/// The trackers alive in this process, which the scrape callbacks read.
static LIVE: Mutex<Vec<Weak<Tracker>>> = Mutex::new(Vec::new());
/// The process-wide scrape callbacks, registered with the first tracker and kept for the
/// process's life (with no tracker alive they observe nothing).
static CALLBACKS: OnceLock<[ScrapeCallback; 3]> = OnceLock::new();

fn live() -> Vec<Arc<Tracker>> {
    LIVE.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter_map(Weak::upgrade)
        .collect()
}

/// A new tracker whose rooms appear in the gauges until it is dropped.
pub(crate) fn published() -> Arc<Tracker> {
    let tracker = Arc::new(Tracker::default());
    {
        let mut trackers = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        trackers.retain(|t| t.strong_count() > 0);
        trackers.push(Arc::downgrade(&tracker));
    }
    CALLBACKS.get_or_init(|| {
        [
            on_scrape(&catalog::ROOM_PARTICIPANTS, |o| {
                for tracker in live() {
                    tracker.observe_participants(o);
                }
            }),
            on_scrape(&catalog::ROOM_UTILIZATION, |o| {
                for tracker in live() {
                    tracker.observe_utilization(o);
                }
            }),
            on_scrape(&catalog::ACTIVE_RECORDINGS, |o| {
                let trackers = live();
                // No tracker, no series: nothing is left behind by rooms that are gone.
                if !trackers.is_empty() {
                    let recording: usize = trackers.iter().map(|t| t.recordings()).sum();
                    o.observe(&[], recording as f64);
                }
            }),
        ]
    });
    tracker
}

/// A point-in-time view of one tracked room, for periodic statistics and health pages.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RoomStats {
    /// The room's id.
    pub id: Arc<str>,
    /// Participants in the room now.
    pub participants: usize,
    /// Participants by type, in no particular order.
    pub by_type: Vec<(ParticipantType, usize)>,
    /// The room's capacity, when known.
    pub max_participants: Option<u32>,
    /// Participants as a percentage of the capacity, when the capacity is known.
    pub utilization_percent: Option<f64>,
    /// How long the room has been open (since its creation or tracking).
    pub open_for: Duration,
    /// How long the current recording has run, if one runs.
    pub recording_for: Option<Duration>,
}

/// What closing a room found.
#[derive(Debug)]
pub(crate) struct Closed {
    pub(crate) open_for: Duration,
    pub(crate) participants: usize,
}

/// What stopping a recording found.
#[derive(Debug)]
pub(crate) struct Stopped {
    pub(crate) ran_for: Duration,
    pub(crate) participants: usize,
}

struct Room {
    max: Option<u32>,
    participants: HashMap<Arc<str>, ParticipantType>,
    opened: Instant,
    recording_since: Option<Instant>,
}

impl Room {
    fn utilization(&self) -> Option<f64> {
        self.max
            .filter(|max| *max > 0)
            .map(|max| self.participants.len() as f64 * 100.0 / f64::from(max))
    }

    fn stats(&self, id: &Arc<str>, now: Instant) -> RoomStats {
        let mut by_type: Vec<(ParticipantType, usize)> = Vec::new();
        for kind in self.participants.values() {
            match by_type.iter_mut().find(|(k, _)| k == kind) {
                Some((_, n)) => *n += 1,
                None => by_type.push((*kind, 1)),
            }
        }
        RoomStats {
            id: id.clone(),
            participants: self.participants.len(),
            by_type,
            max_participants: self.max,
            utilization_percent: self.utilization(),
            open_for: now.saturating_duration_since(self.opened),
            recording_for: self
                .recording_since
                .map(|since| now.saturating_duration_since(since)),
        }
    }
}

/// The rooms one [`crate::Rooms`] tracks.
#[derive(Default)]
pub(crate) struct Tracker {
    rooms: Mutex<HashMap<Arc<str>, Room>>,
}

impl Tracker {
    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Room>> {
        // A panic elsewhere while the lock was held cannot leave a room half-updated in a way
        // that matters more than losing the instrumentation: keep going.
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts tracking a room; `false` when it was already tracked (then it is left as it is).
    pub(crate) fn open(&self, spec: &RoomSpec) -> bool {
        let mut rooms = self.lock();
        if rooms.contains_key(&spec.id) {
            return false;
        }
        let room = Room {
            max: spec.max_participants,
            participants: HashMap::new(),
            opened: Instant::now(),
            recording_since: None,
        };
        rooms.insert(spec.id.clone(), room);
        true
    }

    /// Adds a participant (a second join of the same user changes nothing); the new count, or
    /// `None` when the room is not tracked.
    pub(crate) fn join(&self, room: &str, user: &Arc<str>, kind: ParticipantType) -> Option<usize> {
        let mut rooms = self.lock();
        let state = rooms.get_mut(room)?;
        state.participants.insert(user.clone(), kind);
        Some(state.participants.len())
    }

    /// Removes a participant; the new count, or `None` when the room is not tracked.
    pub(crate) fn leave(&self, room: &str, user: &str) -> Option<usize> {
        let mut rooms = self.lock();
        let state = rooms.get_mut(room)?;
        state.participants.remove(user);
        Some(state.participants.len())
    }

    /// Stops tracking a room and removes its series; `None` when it was not tracked.
    pub(crate) fn close(&self, room: &str) -> Option<Closed> {
        let state = self.lock().remove(room)?;
        // Recorded with the lock released: a rendering may be reading this tracker.
        let open_for = state.opened.elapsed();
        SESSION_DURATION.with(&[]).record(open_for.as_secs_f64());
        Some(Closed {
            open_for,
            participants: state.participants.len(),
        })
    }

    /// Marks the room as recording; its participant count, or `None` when the room is not
    /// tracked. A second start keeps the first start time.
    pub(crate) fn start_recording(&self, room: &str) -> Option<usize> {
        let mut rooms = self.lock();
        let state = rooms.get_mut(room)?;
        if state.recording_since.is_none() {
            state.recording_since = Some(Instant::now());
        }
        Some(state.participants.len())
    }

    /// Marks the room as not recording; how long the recording ran, or `None` when the room is
    /// not tracked or did not record.
    pub(crate) fn stop_recording(&self, room: &str) -> Option<Stopped> {
        let mut rooms = self.lock();
        let state = rooms.get_mut(room)?;
        let since = state.recording_since.take()?;
        Some(Stopped {
            ran_for: since.elapsed(),
            participants: state.participants.len(),
        })
    }

    pub(crate) fn stats(&self, room: &str) -> Option<RoomStats> {
        let rooms = self.lock();
        let (id, state) = rooms.get_key_value(room)?;
        Some(state.stats(id, Instant::now()))
    }

    fn observe_participants(&self, o: &mut Observations<'_>) {
        for (id, state) in self.lock().iter() {
            o.observe(&[id], state.participants.len() as f64);
        }
    }

    fn observe_utilization(&self, o: &mut Observations<'_>) {
        for (id, state) in self.lock().iter() {
            if let Some(percent) = state.utilization() {
                o.observe(&[id], percent);
            }
        }
    }

    fn recordings(&self) -> usize {
        self.lock()
            .values()
            .filter(|state| state.recording_since.is_some())
            .count()
    }

    pub(crate) fn all_stats(&self) -> Vec<RoomStats> {
        let now = Instant::now();
        self.lock()
            .iter()
            .map(|(id, state)| state.stats(id, now))
            .collect()
    }
}
