//! Moderation: participants report each other with a reason; a moderator accepts or rejects;
//! an accepted report puts the reported user on the blocklist in Redis.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::catalog::{ACCEPTED, BLOCKLIST, BY_REASON, PENDING, REJECTED, SUBMITTED};
use crate::error::{AppError, AppResult};
use crate::rooms::open_room;
use crate::state::{AppState, Auth, Body};
use crate::storage::ReportRow;

/// The reasons a report may give: the `reason` label's values.
pub const REASONS: &[&str] = &["spam", "harassment", "inappropriate", "other"];

/// A report.
#[derive(Debug, Deserialize)]
pub struct NewReport {
    /// Who is reported.
    pub user_id: String,
    /// One of [`REASONS`].
    pub reason: String,
}

/// A moderator's decision.
#[derive(Debug, Deserialize)]
pub struct Decision {
    /// `accept` or `reject`.
    pub decision: String,
}

/// A filed report's id.
#[derive(Debug, Serialize, Deserialize)]
pub struct Filed {
    /// The report id.
    pub report_id: String,
}

/// Sets the two gauges from the stores, at start and after each change.
pub async fn refresh_gauges(state: &AppState) -> AppResult<()> {
    let pending = state.db.pending_count().await?;
    PENDING.with(&[]).set(pending as f64);
    let blocked = state.kv.blocklist_size().await?;
    BLOCKLIST.with(&[]).set(blocked as f64);
    Ok(())
}

/// `POST /rooms/{id}/reports`.
pub async fn report(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Body(req): Body<NewReport>,
) -> AppResult<(StatusCode, Json<Filed>)> {
    let Some(reason) = REASONS.iter().find(|r| **r == req.reason) else {
        return Err(AppError::bad_request(
            "reason: spam, harassment, inappropriate or other",
        ));
    };
    if req.user_id == auth.session.user_id {
        return Err(AppError::bad_request("you cannot report yourself"));
    }
    let room = open_room(&state, &id).await?;
    if state
        .db
        .participant(&room.id, &req.user_id)
        .await?
        .is_none()
    {
        return Err(AppError::not_found("participant"));
    }
    let report = ReportRow {
        id: format!("rep-{:016x}", rand::random::<u64>()),
        room_id: room.id,
        reporter_id: auth.session.user_id,
        reported_id: req.user_id,
        reason: (*reason).to_owned(),
        status: "pending".into(),
    };
    state.db.insert_report(&report).await?;
    SUBMITTED.with(&[]).increment(1);
    BY_REASON.with(&[reason]).increment(1);
    PENDING.with(&[]).increment(1.0);
    Ok((
        StatusCode::CREATED,
        Json(Filed {
            report_id: report.id,
        }),
    ))
}

fn moderator_only(auth: &Auth) -> AppResult<()> {
    if auth.session.moderator {
        Ok(())
    } else {
        Err(AppError::forbidden("moderators only"))
    }
}

/// `GET /moderation/reports`: the pending reports, oldest first (at most 100).
pub async fn pending(State(state): State<AppState>, auth: Auth) -> AppResult<Json<Vec<ReportRow>>> {
    moderator_only(&auth)?;
    Ok(Json(state.db.pending_reports(100).await?))
}

/// `POST /moderation/reports/{id}`.
pub async fn decide(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Body(req): Body<Decision>,
) -> AppResult<StatusCode> {
    moderator_only(&auth)?;
    let status = match req.decision.as_str() {
        "accept" => "accepted",
        "reject" => "rejected",
        _ => return Err(AppError::bad_request("decision: accept or reject")),
    };
    let Some(report) = state.db.decide_report(&id, status).await? else {
        return Err(AppError::not_found("pending report"));
    };
    PENDING.with(&[]).decrement(1.0);
    if status == "accepted" {
        ACCEPTED.with(&[]).increment(1);
        let size = state.kv.block(&report.reported_id).await?;
        BLOCKLIST.with(&[]).set(size as f64);
        state.media.disconnect_user(&report.reported_id).await;
    } else {
        REJECTED.with(&[]).increment(1);
    }
    Ok(StatusCode::NO_CONTENT)
}
