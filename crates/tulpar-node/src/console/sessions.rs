//! Console sessions: a random 256-bit id in a cookie, everything else in the node's memory. A session
//! ends when unused for `console.session_idle_timeout`, `console.session_max_age` after sign-in, at
//! sign-out, or when the node restarts. Each carries a token that every form sends back, so a page of
//! another site cannot make the browser act for the person.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use tulpar_core::time::Clock;

/// Most sessions the node holds; the least recently used goes first.
const MAX_SESSIONS: usize = 10_000;
/// Most sessions of one account; signing in once more ends its oldest.
const MAX_SESSIONS_PER_ACCOUNT: usize = 8;

/// A signed-in person's session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The account's name, or the certificate's principal name for a certificate sign-in.
    pub(crate) account: String,
    /// For a sign-in with a client certificate: the caller, checked again (revocation) at each use.
    pub(crate) certificate: Option<crate::client_auth::Caller>,
    /// The person's name as shown.
    pub(crate) display_name: String,
    /// The language pages are in.
    pub(crate) language: String,
    /// The token every form of this session carries.
    pub(crate) csrf: String,
    created: SystemTime,
    last_used: SystemTime,
}

/// Every open session.
pub(crate) struct Sessions {
    clock: Arc<dyn Clock>,
    idle: Duration,
    max_age: Duration,
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// No sessions yet.
    pub(crate) fn new(clock: Arc<dyn Clock>, idle: Duration, max_age: Duration) -> Self {
        Self {
            clock,
            idle,
            max_age,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a session for `account`; its id, for the cookie.
    pub(crate) fn open(
        &self,
        account: &str,
        display_name: &str,
        language: &str,
        certificate: Option<crate::client_auth::Caller>,
    ) -> Result<String, ring::error::Unspecified> {
        let (id, csrf) = (random_token()?, random_token()?);
        let now = self.clock.now();
        let mut open = self.lock();
        open.retain(|_, session| self.alive(session, now));
        let mut own: Vec<(String, SystemTime)> = open
            .iter()
            .filter(|(_, s)| s.account == account)
            .map(|(id, s)| (id.clone(), s.last_used))
            .collect();
        own.sort_by_key(|(_, used)| *used);
        let excess = (own.len() + 1).saturating_sub(MAX_SESSIONS_PER_ACCOUNT);
        for (old, _) in own.into_iter().take(excess) {
            open.remove(&old);
        }
        if open.len() >= MAX_SESSIONS {
            let least_used = open
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| id.clone());
            if let Some(least_used) = least_used {
                open.remove(&least_used);
            }
        }
        open.insert(
            id.clone(),
            Session {
                account: account.to_owned(),
                certificate,
                display_name: display_name.to_owned(),
                language: language.to_owned(),
                csrf,
                created: now,
                last_used: now,
            },
        );
        Ok(id)
    }

    fn alive(&self, session: &Session, now: SystemTime) -> bool {
        let idle = now.duration_since(session.last_used).unwrap_or_default();
        let age = now.duration_since(session.created).unwrap_or_default();
        idle < self.idle && age < self.max_age
    }

    /// The session `id`, if it is still alive; using it keeps it so.
    pub(crate) fn touch(&self, id: &str) -> Option<Session> {
        let now = self.clock.now();
        let mut open = self.lock();
        let session = open.get_mut(id)?;
        if !self.alive(session, now) {
            open.remove(id);
            return None;
        }
        session.last_used = now;
        Some(session.clone())
    }

    /// Whether session `id` is still alive, without counting this as a use.
    pub(crate) fn is_open(&self, id: &str) -> bool {
        let now = self.clock.now();
        self.lock()
            .get(id)
            .is_some_and(|session| self.alive(session, now))
    }

    /// Changes the language of session `id`.
    pub(crate) fn set_language(&self, id: &str, language: &str) {
        if let Some(session) = self.lock().get_mut(id) {
            language.clone_into(&mut session.language);
        }
    }

    /// Ends session `id`.
    pub(crate) fn end(&self, id: &str) {
        self.lock().remove(id);
    }

    /// How many sessions are open (for tests and status).
    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.lock().len()
    }
}

/// 256 random bits, URL-safe.
fn random_token() -> Result<String, ring::error::Unspecified> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use tulpar_core::time::ManualClock;

    use super::*;

    fn sessions() -> (Arc<ManualClock>, Sessions) {
        let clock = Arc::new(ManualClock::new(
            UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        ));
        let sessions = Sessions::new(
            clock.clone(),
            Duration::from_secs(30 * 60),
            Duration::from_secs(10 * 3600),
        );
        (clock, sessions)
    }

    #[test]
    fn a_session_ends_when_idle_or_too_old_and_use_keeps_it_alive() {
        let (clock, sessions) = sessions();
        let id = sessions.open("a.seitova", "Айгерим", "ru", None).unwrap();
        let session = sessions.touch(&id).unwrap();
        assert_eq!(session.csrf.len(), 43);
        assert_ne!(session.csrf, id);
        for _ in 0..20 {
            clock.advance(Duration::from_secs(29 * 60));
            assert!(sessions.touch(&id).is_some(), "used within the idle time");
        }
        clock.advance(Duration::from_secs(29 * 60));
        assert!(sessions.touch(&id).is_none(), "ten hours after sign-in");
        let idle = sessions.open("a.seitova", "Айгерим", "ru", None).unwrap();
        clock.advance(Duration::from_secs(30 * 60));
        assert!(sessions.touch(&idle).is_none(), "idle half an hour");
        assert!(sessions.touch("made-up").is_none());
    }

    #[test]
    fn an_account_holds_a_bounded_number_of_sessions() {
        let (clock, sessions) = sessions();
        let first = sessions.open("a.seitova", "Айгерим", "ru", None).unwrap();
        for _ in 0..MAX_SESSIONS_PER_ACCOUNT {
            clock.advance(Duration::from_secs(1));
            sessions.open("a.seitova", "Айгерим", "ru", None).unwrap();
        }
        assert_eq!(sessions.count(), MAX_SESSIONS_PER_ACCOUNT);
        assert!(sessions.touch(&first).is_none(), "the oldest made room");
        let other = sessions.open("b.karimov", "Бахтиёр", "ru", None).unwrap();
        sessions.end(&other);
        assert!(sessions.touch(&other).is_none());
    }
}
