//! Each operation's metrics, spans' outcome and the tracked state, on a recorder local to the test.

use std::io;

use obs_rooms::{Participant, ParticipantType, RoomSpec, Rooms};
use obs_testkit::{LocalRecorder, MetricsSnapshot};

async fn ok() -> io::Result<()> {
    Ok(())
}

async fn denied() -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        "room is full",
    ))
}

fn block_on<T>(recorder: &LocalRecorder, f: impl Future<Output = T>) -> T {
    let _in_force = recorder.enter();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn ops(snap: &MetricsSnapshot, name: &str, op: &str, status: &str) -> f64 {
    snap.sum(name, &[("operation", op), ("status", status)])
}

#[test]
fn operations_count_by_status_and_gauges_follow_the_room() {
    let recorder = LocalRecorder::new();
    let rooms = Rooms::new();
    let host = Participant::new("room-a", "u-host", ParticipantType::Host);
    let guest = Participant::new("room-a", "u-guest", ParticipantType::Guest);
    let late = Participant::new("room-a", "u-late", ParticipantType::Viewer);

    let during = block_on(&recorder, async {
        rooms
            .create(
                RoomSpec::new("room-a").host("u-host").max_participants(4),
                ok(),
            )
            .await
            .unwrap();
        rooms.join(&host, ok()).await.unwrap();
        rooms.join(&guest, ok()).await.unwrap();
        rooms.join(&guest, ok()).await.unwrap(); // a second join of the same user counts once
        let refused = rooms.join(&late, denied()).await;
        assert_eq!(refused.unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        rooms.start_recording("room-a", ok()).await.unwrap();
        let snap = recorder.snapshot();
        rooms.kick(&guest, ok()).await.unwrap();
        rooms.stop_recording("room-a", ok()).await.unwrap();
        snap
    });
    assert_eq!(
        during.value("room_participants_current", &[("room", "room-a")]),
        Some(2.0)
    );
    assert_eq!(
        during.value("room_utilization_percent", &[("room", "room-a")]),
        Some(50.0)
    );
    assert_eq!(during.value("active_recordings_total", &[]), Some(1.0));

    let open = recorder.snapshot();
    assert_eq!(
        open.value("room_participants_current", &[("room", "room-a")]),
        Some(1.0)
    );
    assert_eq!(
        open.value("room_utilization_percent", &[("room", "room-a")]),
        Some(25.0)
    );
    assert_eq!(open.value("active_recordings_total", &[]), Some(0.0));
    assert_eq!(
        ops(&open, "room_operations_total", "create", "success"),
        1.0
    );
    assert_eq!(ops(&open, "room_operations_total", "join", "success"), 3.0);
    assert_eq!(
        open.value(
            "room_operations_total",
            &[("operation", "join"), ("status", "error")]
        ),
        Some(1.0),
        "{}",
        open.text
    );
    // The label sets exactly: the error type is on the span, not a label.
    assert!(!open.text.contains("error_type"), "{}", open.text);
    assert_eq!(ops(&open, "room_operations_total", "kick", "success"), 1.0);
    assert_eq!(
        ops(
            &open,
            "recording_operations_total",
            "recording_start",
            "success"
        ),
        1.0
    );
    assert_eq!(
        ops(
            &open,
            "recording_operations_total",
            "recording_stop",
            "success"
        ),
        1.0
    );
    assert_eq!(
        open.value(
            "room_participant_operations_total",
            &[("operation", "join"), ("participant_type", "guest")]
        ),
        Some(2.0)
    );
    assert_eq!(
        open.value(
            "room_participant_operations_total",
            &[("operation", "kick"), ("participant_type", "guest")]
        ),
        Some(1.0)
    );
    // The refused viewer was never counted as a participant operation.
    assert_eq!(
        open.sum(
            "room_participant_operations_total",
            &[("participant_type", "viewer")]
        ),
        0.0
    );
    assert_eq!(open.value("sessions_created_total", &[]), Some(1.0));
    assert_eq!(
        open.value("room_operation_duration_ms_count", &[("operation", "join")]),
        Some(4.0),
        "{}",
        open.text
    );
    assert!(open.help("room_participants_current").is_some());

    block_on(&recorder, rooms.close("room-a", ok())).unwrap();
    let closed = recorder.snapshot();
    assert_eq!(
        closed.series_count("room_participants_current"),
        0,
        "{}",
        closed.text
    );
    assert_eq!(
        closed.series_count("room_utilization_percent"),
        0,
        "{}",
        closed.text
    );
    assert_eq!(
        closed.kind("room_session_duration_seconds"),
        Some("histogram")
    );
    assert_eq!(
        closed.value("room_session_duration_seconds_count", &[]),
        Some(1.0)
    );
    assert_eq!(
        ops(&closed, "room_operations_total", "close", "success"),
        1.0
    );
    assert!(rooms.stats("room-a").is_none());
}

#[test]
fn a_failed_operation_changes_nothing_tracked() {
    let recorder = LocalRecorder::new();
    let rooms = Rooms::new();
    block_on(&recorder, async {
        assert!(
            rooms
                .create(RoomSpec::new("room-b"), denied())
                .await
                .is_err()
        );
        assert!(rooms.stats("room-b").is_none());
        rooms.create(RoomSpec::new("room-b"), ok()).await.unwrap();
        rooms.start_recording("room-b", denied()).await.unwrap_err();
        assert_eq!(rooms.stats("room-b").unwrap().recording_for, None);
        rooms.close("room-b", denied()).await.unwrap_err();
        assert!(rooms.stats("room-b").is_some());
    });
    let snap = recorder.snapshot();
    assert_eq!(
        snap.value("room_participants_current", &[("room", "room-b")]),
        Some(0.0)
    );
    // No capacity, no utilization series.
    assert_eq!(snap.series_count("room_utilization_percent"), 0);
    assert_eq!(ops(&snap, "room_operations_total", "create", "error"), 1.0);
    assert_eq!(
        ops(
            &snap,
            "recording_operations_total",
            "recording_start",
            "error"
        ),
        1.0
    );
    assert_eq!(ops(&snap, "room_operations_total", "close", "error"), 1.0);
    assert_eq!(snap.value("sessions_created_total", &[]), Some(1.0));
    assert_eq!(snap.value("active_recordings_total", &[]), Some(0.0));
}

#[test]
fn closing_with_a_recording_running_stops_counting_it_and_dropping_rooms_removes_series() {
    let recorder = LocalRecorder::new();
    let rooms = Rooms::new();
    block_on(&recorder, async {
        rooms.create(RoomSpec::new("room-c"), ok()).await.unwrap();
        assert!(!rooms.track(RoomSpec::new("room-c")));
        assert!(rooms.track(RoomSpec::new("room-d").max_participants(2)));
        rooms.start_recording("room-c", ok()).await.unwrap();
        rooms.start_recording("room-d", ok()).await.unwrap();
        rooms.close("room-c", ok()).await.unwrap();
    });
    let snap = recorder.snapshot();
    assert_eq!(snap.value("active_recordings_total", &[]), Some(1.0));
    assert_eq!(snap.series_count("room_participants_current"), 1);
    let stats = rooms.all_stats();
    assert_eq!(stats.len(), 1);
    assert_eq!(&*stats[0].id, "room-d");
    assert!(stats[0].recording_for.is_some());

    recorder.run(|| drop(rooms));
    let snap = recorder.snapshot();
    assert_eq!(
        snap.value("active_recordings_total", &[]),
        None,
        "{}",
        snap.text
    );
    assert_eq!(
        snap.series_count("room_participants_current"),
        0,
        "{}",
        snap.text
    );
    assert_eq!(
        snap.series_count("room_utilization_percent"),
        0,
        "{}",
        snap.text
    );
}

#[test]
fn participant_types_name_their_labels() {
    let cases = [
        (ParticipantType::Host, "host"),
        (ParticipantType::Moderator, "moderator"),
        (ParticipantType::Guest, "guest"),
        (ParticipantType::Viewer, "viewer"),
        (ParticipantType::Other("interpreter"), "interpreter"),
    ];
    for (kind, label) in cases {
        assert_eq!(kind.as_str(), label);
        assert_eq!(kind.to_string(), label);
    }
}

#[test]
fn gauges_are_read_at_scrape_time_whatever_the_recorder() {
    // Rooms changed while no recorder was in force (before `init`, say) still show as they are
    // once one is: the gauges are read from the live rooms at each rendering.
    let rooms = Rooms::new();
    let host = Participant::new("room-e", "u-1", ParticipantType::Host);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            rooms
                .create(RoomSpec::new("room-e").max_participants(8), ok())
                .await
                .unwrap();
            rooms.join(&host, ok()).await.unwrap();
            rooms.start_recording("room-e", ok()).await.unwrap();
        });
    let recorder = LocalRecorder::new();
    let snap = recorder.snapshot();
    assert_eq!(
        snap.value("room_participants_current", &[("room", "room-e")]),
        Some(1.0),
        "{}",
        snap.text
    );
    assert_eq!(
        snap.value("room_utilization_percent", &[("room", "room-e")]),
        Some(12.5)
    );
    assert_eq!(snap.value("active_recordings_total", &[]), Some(1.0));
    assert_eq!(snap.kind("active_recordings_total"), Some("gauge"));
    // A second Rooms adds its own rooms and recordings to the same series.
    let other = Rooms::new();
    assert!(other.track(RoomSpec::new("room-f")));
    block_on(&recorder, other.start_recording("room-f", ok())).unwrap();
    let both = recorder.snapshot();
    assert_eq!(both.value("active_recordings_total", &[]), Some(2.0));
    assert_eq!(both.series_count("room_participants_current"), 2);
    drop(rooms);
    let one = recorder.snapshot();
    assert_eq!(one.value("active_recordings_total", &[]), Some(1.0));
    assert_eq!(
        one.value("room_participants_current", &[("room", "room-f")]),
        Some(0.0)
    );
    assert_eq!(one.series_count("room_participants_current"), 1);
}
