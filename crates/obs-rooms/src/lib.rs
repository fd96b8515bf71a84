//! obs-rooms: instrumentation for services that host rooms (calls, podcasts, classes).
//!
//! [`Rooms`] runs each room operation (create, join, leave, kick, close, recording start and
//! stop) as one of obs-core's timed operations and keeps a live view of the open rooms, from
//! which the gauges are read each time the metrics are rendered, so that they are true at any
//! moment:
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `room_operations_total` | counter | `operation`, `status` |
//! | `room_operation_duration_ms` | histogram | `operation` |
//! | `room_participant_operations_total` | counter | `operation`, `participant_type` |
//! | `recording_operations_total` | counter | `operation`, `status` |
//! | `active_recordings_total` | gauge | |
//! | `room_participants_current` | gauge | `room` (removed when the room closes) |
//! | `room_utilization_percent` | gauge | `room` (removed when the room closes) |
//! | `room_session_duration_seconds` | histogram | |
//! | `sessions_created_total` | counter | |
//!
//! Spans carry `component.name`, `operation.name`, `room.id`, `room.max_participants`,
//! `participant.type`, `user.id`, and `room.name` only when asked
//! ([`RoomsBuilder::record_room_names`]); a failed operation's span has `error.type`. The per-room gauges are bounded by the cardinality
//! guard ([`catalog::MAX_ROOM_SERIES`] rooms).
//!
//! ```
//! use obs_rooms::{Participant, ParticipantType, RoomSpec, Rooms};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), std::io::Error> {
//! let rooms = Rooms::builder().component("podcast-api").build();
//! rooms.create(RoomSpec::new("r-1").max_participants(4), async { Ok::<_, std::io::Error>(()) }).await?;
//! let host = Participant::new("r-1", "u-1", ParticipantType::Host);
//! rooms.join(&host, async { Ok::<_, std::io::Error>(()) }).await?;
//! rooms.start_recording("r-1", async { Ok::<_, std::io::Error>(()) }).await?;
//! assert_eq!(rooms.stats("r-1").unwrap().utilization_percent, Some(25.0));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod catalog;
mod rooms;
mod tracker;
mod types;

pub use rooms::{Rooms, RoomsBuilder};
pub use tracker::RoomStats;
pub use types::{Participant, ParticipantType, RoomSpec};
