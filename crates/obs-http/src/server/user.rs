//! The user behind a request: identity for the span, role for sampling.

use std::borrow::Cow;

/// Implemented by the application's authenticated-user type, which its auth middleware puts in the
/// request extensions. The span records `user.id` and `user.roles`; the role can choose a sampling
/// ratio ([`crate::HttpLayer::sample_role`]).
///
/// The auth middleware must run before the HTTP layer sees the request, i.e. be added after it
/// (`.layer(HttpLayer::new()...).layer(auth)`), since the extension is read when the request arrives.
///
/// ```
/// use std::borrow::Cow;
/// use obs_http::ObsUser;
///
/// #[derive(Clone)]
/// struct Claims { sub: String, admin: bool }
///
/// impl ObsUser for Claims {
///     fn user_id(&self) -> Option<Cow<'_, str>> { Some(Cow::Borrowed(&self.sub)) }
///     fn role(&self) -> Option<Cow<'_, str>> { Some(Cow::Borrowed(if self.admin { "admin" } else { "user" })) }
/// }
/// let layer = obs_http::HttpLayer::new().user::<Claims>().sample_role("admin", 1.0);
/// ```
pub trait ObsUser: Send + Sync + 'static {
    /// A stable user id (never a name or an e-mail address).
    fn user_id(&self) -> Option<Cow<'_, str>>;
    /// The user's role, for sampling and the `user.roles` attribute.
    fn role(&self) -> Option<Cow<'_, str>> {
        None
    }
}

/// What the layer read of the user: id and role.
pub(crate) type UserFields = (Option<String>, Option<String>);

/// Reads a `T: ObsUser` from the extensions; stored as a plain fn pointer so the layer stays
/// non-generic over the user type.
pub(crate) type UserReader = fn(&http::Extensions) -> Option<UserFields>;

pub(crate) fn reader<T: ObsUser>() -> UserReader {
    |ext| {
        ext.get::<T>().map(|u| {
            (
                u.user_id().map(Cow::into_owned),
                u.role().map(Cow::into_owned),
            )
        })
    }
}
