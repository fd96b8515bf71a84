//! What the operations are about: rooms, participants and their types.

use std::borrow::Cow;
use std::sync::Arc;

/// The role a participant has in a room; the `participant_type` label and the span's
/// `participant.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParticipantType {
    /// The room's owner.
    Host,
    /// A co-host or moderator.
    Moderator,
    /// An invited speaker or attendee with media.
    Guest,
    /// A listener or viewer without media of their own.
    Viewer,
    /// A type of the application's own; keep the set of values small, it is a label.
    Other(&'static str),
}

impl ParticipantType {
    /// The label value: `host`, `moderator`, `guest`, `viewer`, or the custom name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Moderator => "moderator",
            Self::Guest => "guest",
            Self::Viewer => "viewer",
            Self::Other(name) => name,
        }
    }
}

impl std::fmt::Display for ParticipantType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A room as its creation describes it.
///
/// ```
/// use obs_rooms::RoomSpec;
///
/// let spec = RoomSpec::new("room-123")
///     .name("Weekly sync")
///     .host("user-456")
///     .max_participants(10);
/// assert_eq!(spec.id(), "room-123");
/// ```
#[derive(Clone, Debug)]
pub struct RoomSpec {
    pub(crate) id: Arc<str>,
    pub(crate) name: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) max_participants: Option<u32>,
}

impl RoomSpec {
    /// A room with the id `id`. The id becomes the `room` label of the per-room gauges: use an
    /// opaque id, never a name or an e-mail address.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self {
            id: id.into(),
            name: None,
            host: None,
            max_participants: None,
        }
    }

    /// The room's display name, recorded as `room.name` only when
    /// [`RoomsBuilder::record_room_names`](crate::RoomsBuilder::record_room_names) is on (names
    /// can be personal).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The user who creates the room (`user.id` of the create span).
    pub fn host(mut self, user_id: impl Into<String>) -> Self {
        self.host = Some(user_id.into());
        self
    }

    /// The room's capacity: `room.max_participants`, and the base of `room_utilization_percent`.
    pub fn max_participants(mut self, max: u32) -> Self {
        self.max_participants = Some(max);
        self
    }

    /// The room's id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A participant of a room: who, and in what role.
///
/// ```
/// use obs_rooms::{Participant, ParticipantType};
///
/// let p = Participant::new("room-123", "user-789", ParticipantType::Guest);
/// assert_eq!(p.room_id(), "room-123");
/// ```
#[derive(Clone, Debug)]
pub struct Participant {
    pub(crate) room: Arc<str>,
    pub(crate) user: Arc<str>,
    pub(crate) kind: ParticipantType,
}

impl Participant {
    /// The participant `user_id` of the room `room_id`, as a `kind`.
    pub fn new(
        room_id: impl Into<Arc<str>>,
        user_id: impl Into<Arc<str>>,
        kind: ParticipantType,
    ) -> Self {
        Self {
            room: room_id.into(),
            user: user_id.into(),
            kind,
        }
    }

    /// The room's id.
    pub fn room_id(&self) -> &str {
        &self.room
    }

    /// The participant's user id.
    pub fn user_id(&self) -> &str {
        &self.user
    }

    /// The participant's type.
    pub fn kind(&self) -> ParticipantType {
        self.kind
    }
}

/// A room operation: the `operation` label and the span's `operation.name`. Recording
/// operations are `recording_start` and `recording_stop`, since they share the duration
/// histogram with the room operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RoomOp {
    Create,
    Join,
    Leave,
    Kick,
    Close,
    RecordingStart,
    RecordingStop,
}

impl RoomOp {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Join => "join",
            Self::Leave => "leave",
            Self::Kick => "kick",
            Self::Close => "close",
            Self::RecordingStart => "recording_start",
            Self::RecordingStop => "recording_stop",
        }
    }

    /// The span name.
    pub(crate) fn span_name(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Self::Create => "room.create",
            Self::Join => "room.join",
            Self::Leave => "room.leave",
            Self::Kick => "room.kick",
            Self::Close => "room.close",
            Self::RecordingStart => "recording.start",
            Self::RecordingStop => "recording.stop",
        })
    }
}
