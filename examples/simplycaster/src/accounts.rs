//! Register, log in, log out: argon2 hashes, sessions in Redis, logins rate-limited per name,
//! each an obs-flows flow (`auth_registration`, `auth_login`, `auth_logout`).

use std::sync::LazyLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use obs_flows::{SecurityEvent, flows, security_event};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::kv::Session;
use crate::state::{AppState, Body, bearer};

/// Argon2id with 4 MiB and 2 passes: a few milliseconds a hash, so the demo's virtual users
/// log in quickly; raise the memory cost for a real deployment.
fn argon2() -> Argon2<'static> {
    let params = Params::new(4 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Verified when the user does not exist, so that an unknown name takes as long as a wrong
/// password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    argon2()
        .hash_password(b"not a password of anyone")
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// A registration.
#[derive(Deserialize)]
pub struct Register {
    /// 3 to 32 lowercase letters, digits, `-` or `_`.
    pub name: String,
    /// 8 to 256 bytes.
    pub password: String,
    /// The server's moderator key, to register a moderator.
    #[serde(default)]
    pub moderator_key: Option<String>,
}

impl std::fmt::Debug for Register {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Register")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A login.
#[derive(Deserialize)]
pub struct Login {
    /// The user name.
    pub name: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What register and login answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct Token {
    /// The user id.
    pub user_id: String,
    /// The session token: `Authorization: Bearer <token>`.
    pub token: String,
    /// Whether the user moderates reports.
    pub moderator: bool,
}

fn valid_name(name: &str) -> bool {
    (3..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

async fn hash(password: String) -> AppResult<String> {
    obs_flows::spawn_blocking(move || {
        argon2()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    })
    .await
    .map_err(|_| AppError::internal("hash_failed"))?
    .map_err(|_| AppError::internal("hash_failed"))
}

async fn verify(password: String, stored: String) -> bool {
    obs_flows::spawn_blocking(move || {
        PasswordHash::new(&stored)
            .is_ok_and(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// `POST /auth/register`.
pub async fn register(
    State(state): State<AppState>,
    Body(req): Body<Register>,
) -> AppResult<(StatusCode, Json<Token>)> {
    let flow = flows::REGISTRATION.start();
    let result: AppResult<Token> = async {
        flow.step("validate", async {
            if !valid_name(&req.name) {
                return Err(AppError::bad_request(
                    "name: 3 to 32 lowercase letters, digits, '-' or '_'",
                ));
            }
            if !(8..=256).contains(&req.password.len()) {
                return Err(AppError::bad_request("password: 8 to 256 bytes"));
            }
            Ok(())
        })
        .await?;
        let moderator = req.moderator_key.as_deref() == Some(state.moderator_key.as_str());
        let user_id = format!("u-{:016x}", rand::random::<u64>());
        flow.step("create_user", async {
            let hash = hash(req.password).await?;
            if state
                .db
                .insert_user(&user_id, &req.name, &hash, moderator)
                .await?
            {
                Ok(())
            } else {
                Err(AppError::conflict("that name is taken"))
            }
        })
        .await?;
        let session = Session {
            user_id: user_id.clone(),
            moderator,
        };
        let token = flow
            .step("session_creation", async {
                Ok::<_, AppError>(state.kv.create_session(&session).await?)
            })
            .await?;
        flow.step("token_issue", async {
            Ok::<_, AppError>(Token {
                user_id,
                token,
                moderator,
            })
        })
        .await
    }
    .await;
    flow.finish();
    Ok((StatusCode::CREATED, Json(result?)))
}

/// `POST /auth/login`.
pub async fn login(
    State(state): State<AppState>,
    Body(req): Body<Login>,
) -> AppResult<Json<Token>> {
    let flow = flows::LOGIN.start();
    let result: AppResult<Token> = async {
        flow.step("login_attempt", async {
            if state.kv.login_allowed(&req.name).await? {
                Ok(())
            } else {
                security_event(SecurityEvent::RateLimited);
                Err(AppError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many login attempts; try again in a minute",
                ))
            }
        })
        .await?;
        let user = flow
            .step("credential_check", async {
                let user = state.db.user_by_name(&req.name).await?;
                let stored = user
                    .as_ref()
                    .map_or_else(|| DUMMY_HASH.clone(), |u| u.password_hash.clone());
                let ok = verify(req.password, stored).await;
                match user {
                    Some(user) if ok => Ok(user),
                    _ => {
                        security_event(SecurityEvent::LoginFailed);
                        Err(AppError::new(
                            StatusCode::UNAUTHORIZED,
                            "invalid_credentials",
                            "wrong name or password",
                        ))
                    }
                }
            })
            .await?;
        let session = Session {
            user_id: user.id.clone(),
            moderator: user.moderator,
        };
        let token = flow
            .step("session_creation", async {
                Ok::<_, AppError>(state.kv.create_session(&session).await?)
            })
            .await?;
        flow.step("token_issue", async {
            Ok::<_, AppError>(Token {
                user_id: user.id,
                token,
                moderator: user.moderator,
            })
        })
        .await
    }
    .await;
    flow.finish();
    Ok(Json(result?))
}

/// `POST /auth/logout`.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> AppResult<StatusCode> {
    let flow = flows::LOGOUT.start();
    let result: AppResult<bool> = async {
        let token = flow
            .step("session_lookup", async {
                let token = bearer(&headers).ok_or_else(AppError::unauthorized)?;
                match state.kv.session(token).await? {
                    Some(_) => Ok(token),
                    None => {
                        security_event(SecurityEvent::TokenRejected);
                        Err(AppError::unauthorized())
                    }
                }
            })
            .await?;
        flow.step("session_revocation", async {
            Ok::<_, AppError>(state.kv.destroy_session(token).await?)
        })
        .await
    }
    .await;
    flow.finish();
    result.map(|_| StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(valid_name("ann_1"));
        for bad in [
            "",
            "ab",
            "Ann",
            "ann smith",
            "ann@example.com",
            &"a".repeat(33),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn hashes_verify_and_do_not_hold_the_password() {
        let hash = argon2()
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        assert!(!hash.contains("correct horse"));
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(argon2().verify_password(b"correct horse", &parsed).is_ok());
        assert!(argon2().verify_password(b"wrong horse", &parsed).is_err());
    }
}
