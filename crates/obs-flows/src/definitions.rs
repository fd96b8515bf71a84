//! The design documents' flows, ready to start: `flows::ROOM_CREATION.start()`.

use crate::flow::FlowDef;

/// Room creation: authenticate → validate → persist → initialise WebRTC.
pub const ROOM_CREATION: FlowDef = FlowDef::new(
    "room_creation",
    &["authenticate", "validate", "persist", "initialize_webrtc"],
);

/// Recording: start → coordinate participants → process media → upload.
pub const RECORDING: FlowDef = FlowDef::new(
    "recording",
    &[
        "start",
        "coordinate_participants",
        "process_media",
        "upload",
    ],
);

/// Login: login attempt → credential check → session creation → token issue.
pub const LOGIN: FlowDef = FlowDef::new(
    "auth_login",
    &[
        "login_attempt",
        "credential_check",
        "session_creation",
        "token_issue",
    ],
);

/// Logout: session lookup → session revocation.
pub const LOGOUT: FlowDef = FlowDef::new("auth_logout", &["session_lookup", "session_revocation"]);

/// Registration: validate → create user → session creation → token issue.
pub const REGISTRATION: FlowDef = FlowDef::new(
    "auth_registration",
    &["validate", "create_user", "session_creation", "token_issue"],
);

/// Invitation acceptance: token check → account resolution → room admission.
pub const INVITATION_ACCEPTANCE: FlowDef = FlowDef::new(
    "invitation_acceptance",
    &["token_check", "account_resolution", "room_admission"],
);

/// Every ready flow.
pub const ALL: &[FlowDef] = &[
    ROOM_CREATION,
    RECORDING,
    LOGIN,
    LOGOUT,
    REGISTRATION,
    INVITATION_ACCEPTANCE,
];
