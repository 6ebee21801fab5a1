//! People's accounts: who may sign in to the console, with what, and what became of each attempt.
//!
//! Passwords are kept as Argon2id hashes (OWASP's parameters: 19 MiB, two passes, one lane) and TOTP
//! secrets beside them in the account store ([`store`]), never in the ledger. The ledger records each
//! change and sign-in as an `AccountEvent` with who did it, so focal points audit them like everything
//! else. A person signed in acts under `user:<name>` with the role and unit of the account, and the
//! authorization table of the client API applies unchanged.
//!
//! Hashing is the costly part of a sign-in, so it runs on the blocking pool, at most one per core at
//! a time, with a bounded queue; an unknown name is hashed too, so the time taken does not tell which
//! accounts exist. Failed sign-ins in a row lock the account for `console.lockout_duration`.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::{Mutex, Semaphore};
use tulpar_core::codes::UnitId;
use tulpar_core::proto::{self, AccountEventKind, ledger_entry::Kind};
use tulpar_core::time::{to_timestamp, unix_seconds};
use tulpar_core::validation::Violations;
use tulpar_trust::tls::Role;

use crate::auth::Principal;
use crate::config::ConsoleConfig;
use crate::context::Context;
use crate::error::ApiError;

mod store;
mod totp;

use store::{MAX_ACCOUNTS, Store, StoredAccount};
pub(crate) use totp::TotpSecret;

/// Fewest characters of a password.
const MIN_PASSWORD_CHARS: usize = 12;
/// Most bytes of a password (hashing is bounded by it).
const MAX_PASSWORD_BYTES: usize = 1024;
/// Sign-ins waiting for a hashing slot before more are refused as busy.
const MAX_WAITING_SIGN_INS: usize = 16;

/// The node's people.
pub(crate) struct Accounts {
    context: Arc<Context>,
    settings: ConsoleConfig,
    store: Mutex<Store>,
    hashing: Arc<Semaphore>,
    /// The languages the console has catalogs for, which an account may choose.
    languages: Vec<String>,
    /// Hashes waiting for a slot.
    queued: AtomicUsize,
    /// Compared against when the name is unknown, so such a sign-in costs what a real one does.
    decoy_hash: String,
}

/// A person who signed in.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    /// Who they act as.
    pub(crate) principal: Principal,
    /// Their name as shown.
    pub(crate) display_name: String,
    /// Their language.
    pub(crate) language: String,
}

/// Why a sign-in was refused. The messages are for the person, and say nothing of which part was wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SignInError {
    /// The name, password or code is wrong, or the account is disabled.
    #[error("the name, password or code is wrong")]
    Wrong,
    /// The password held, and the account needs a TOTP code too.
    #[error("this account needs the code from its authenticator app")]
    CodeNeeded,
    /// Too many failures in a row.
    #[error("too many failed sign-ins; the account is locked until {0} (UTC) or a password reset")]
    Locked(String),
    /// Too many sign-ins at once.
    #[error("the node is busy; try again in a moment")]
    Busy,
    /// The node could not read or write its accounts.
    #[error("the node cannot sign anyone in now")]
    Failed,
}

impl Accounts {
    /// Opens the account store in `data_dir`; accounts may choose among `languages`.
    pub(crate) fn open(
        context: Arc<Context>,
        settings: ConsoleConfig,
        data_dir: &Path,
        languages: Vec<String>,
    ) -> Result<Self> {
        let store = Store::open(&data_dir.join("accounts.json"))?;
        let decoy_hash = hash_password("decoy password for unknown names")?;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            context,
            settings,
            store: Mutex::new(store),
            hashing: Arc::new(Semaphore::new(cores)),
            languages,
            queued: AtomicUsize::new(0),
            decoy_hash,
        })
    }

    fn now(&self) -> u64 {
        unix(self.context.clock.now())
    }

    /// Runs `work` (a hash) on the blocking pool once a hashing slot is free.
    async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, SignInError> {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING_SIGN_INS {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(SignInError::Busy);
        }
        let permit = self.hashing.clone().acquire_owned().await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        let permit = permit.map_err(|_| SignInError::Failed)?;
        self.context
            .lifecycle
            .spawn_blocking(move || {
                let _permit = permit;
                work()
            })
            .await
            .map_err(|_| SignInError::Failed)
    }

    /// Creates an account.
    pub(crate) async fn add(
        &self,
        by: &Principal,
        request: proto::AddUserRequest,
    ) -> Result<proto::UserResponse, ApiError> {
        let name = request.name.trim().to_owned();
        let mut violations = Vec::new();
        if let Err(rule) = check_name(&name) {
            violations.push(("name".to_owned(), rule));
        }
        let display_name = request.display_name.trim().to_owned();
        if !(1..=100).contains(&display_name.chars().count()) {
            violations.push((
                "display_name".to_owned(),
                "has 1 to 100 characters".to_owned(),
            ));
        }
        let role = Role::parse(&request.role);
        let mut unit = String::new();
        match role {
            Some(Role::Officer) => match UnitId::parse(request.unit.trim()) {
                Ok(parsed) if parsed.country() == self.context.country => {
                    unit = parsed.to_string();
                }
                Ok(parsed) => violations.push((
                    "unit".to_owned(),
                    format!("{parsed} is not a unit of {}", self.context.country),
                )),
                Err(error) => violations.push(("unit".to_owned(), error.to_string())),
            },
            Some(Role::FocalPoint | Role::Admin) if request.unit.trim().is_empty() => {}
            Some(Role::FocalPoint | Role::Admin) => violations.push((
                "unit".to_owned(),
                "is only for officers; leave it empty".to_owned(),
            )),
            Some(Role::Integrator) | None => violations.push((
                "role".to_owned(),
                format!(
                    "{:?} is not one of officer, focal-point, admin (systems get tokens)",
                    request.role
                ),
            )),
        }
        if !self.languages.contains(&request.language) {
            violations.push((
                "language".to_owned(),
                format!(
                    "{:?} is not one of {} (the languages of the console's catalogs)",
                    request.language,
                    self.languages.join(", ")
                ),
            ));
        }
        if let Err(rule) = check_password(&request.password, &name) {
            violations.push(("password".to_owned(), rule));
        }
        if let Some(violations) = Violations::from_pairs(violations) {
            return Err(ApiError::Invalid(violations));
        }
        let role = role.unwrap_or(Role::Officer);
        let totp_required =
            role != Role::Officer || request.require_totp || self.settings.officer_totp_required;
        let password = request.password;
        let hash = self
            .hashing(move || hash_password(&password))
            .await
            .map_err(sign_in_fault)?
            .map_err(|e| ApiError::internal(format!("hashing a password: {e:#}")))?;
        let secret = if totp_required {
            Some(TotpSecret::generate().map_err(|_| ApiError::internal("random generator"))?)
        } else {
            None
        };
        let account = StoredAccount {
            display_name,
            role: role.as_str().to_owned(),
            unit: unit.clone(),
            language: request.language,
            password: hash,
            totp_required,
            totp_secret: secret.as_ref().map(TotpSecret::base32),
            totp_last_step: None,
            disabled: false,
            failures: 0,
            locked_until: None,
            last_sign_in: None,
            created: self.now(),
        };
        let mut store = self.store.lock().await;
        if store.get(&name).is_some() {
            return Err(ApiError::AlreadyExists(format!(
                "an account named {name:?} exists; names are never reused"
            )));
        }
        if store.len() >= MAX_ACCOUNTS {
            return Err(ApiError::ResourceExhausted(format!(
                "the node keeps at most {MAX_ACCOUNTS} accounts"
            )));
        }
        store
            .write(|accounts| {
                accounts.insert(name.clone(), account.clone());
            })
            .map_err(store_fault)?;
        let index = self
            .record(
                &name,
                AccountEventKind::Added,
                &by.name,
                role.as_str(),
                &unit,
                "",
            )
            .await?;
        tracing::info!(account = %name, role = role.as_str(), by = %by.name, "account added");
        Ok(proto::UserResponse {
            user: Some(self.info(&name, &account)),
            totp: secret.map(|s| self.enrolment(&name, &s)),
            ledger_index: index,
            changed: true,
        })
    }

    /// Every account.
    pub(crate) async fn list(&self) -> Vec<proto::UserInfo> {
        let store = self.store.lock().await;
        store
            .all()
            .map(|(name, account)| self.info(name, account))
            .collect()
    }

    /// Disables an account; returns its name so its sessions can be ended.
    pub(crate) async fn disable(
        &self,
        by: &Principal,
        name: &str,
    ) -> Result<proto::UserResponse, ApiError> {
        self.change(by, name, AccountEventKind::Disabled, |account| {
            let changed = !account.disabled;
            account.disabled = true;
            Ok(changed)
        })
        .await
    }

    /// Sets a new password and lifts any lock.
    pub(crate) async fn reset_password(
        &self,
        by: &Principal,
        name: &str,
        password: String,
    ) -> Result<proto::UserResponse, ApiError> {
        if let Err(rule) = check_password(&password, name) {
            return Err(ApiError::Invalid(Violations::single("password", rule)));
        }
        let hash = self
            .hashing(move || hash_password(&password))
            .await
            .map_err(sign_in_fault)?
            .map_err(|e| ApiError::internal(format!("hashing a password: {e:#}")))?;
        self.change(by, name, AccountEventKind::PasswordReset, move |account| {
            account.password = hash;
            account.failures = 0;
            account.locked_until = None;
            Ok(true)
        })
        .await
    }

    /// Issues a new TOTP secret, needed from then on.
    pub(crate) async fn reset_totp(
        &self,
        by: &Principal,
        name: &str,
    ) -> Result<proto::UserResponse, ApiError> {
        let secret = TotpSecret::generate().map_err(|_| ApiError::internal("random generator"))?;
        let text = secret.base32();
        let mut response = self
            .change(by, name, AccountEventKind::TotpReset, move |account| {
                account.totp_secret = Some(text);
                account.totp_last_step = None;
                account.totp_required = true;
                Ok(true)
            })
            .await?;
        response.totp = Some(self.enrolment(name, &secret));
        Ok(response)
    }

    /// Applies `change` to account `name` and records `kind` if it changed anything.
    async fn change(
        &self,
        by: &Principal,
        name: &str,
        kind: AccountEventKind,
        change: impl FnOnce(&mut StoredAccount) -> Result<bool, ApiError>,
    ) -> Result<proto::UserResponse, ApiError> {
        let mut store = self.store.lock().await;
        let mut account = store
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("no account is named {name:?}")))?;
        if !change(&mut account)? {
            return Ok(proto::UserResponse {
                user: Some(self.info(name, &account)),
                ..Default::default()
            });
        }
        store
            .write(|accounts| {
                accounts.insert(name.to_owned(), account.clone());
            })
            .map_err(store_fault)?;
        drop(store);
        let index = self
            .record(name, kind, &by.name, &account.role, &account.unit, "")
            .await?;
        tracing::info!(account = %name, change = kind.as_str_name(), by = %by.name, "account changed");
        Ok(proto::UserResponse {
            user: Some(self.info(name, &account)),
            totp: None,
            ledger_index: index,
            changed: true,
        })
    }

    /// Checks a sign-in; every attempt on an existing account is recorded in the ledger.
    pub(crate) async fn sign_in(
        &self,
        name: &str,
        password: &str,
        code: &str,
        address: IpAddr,
    ) -> Result<SignedIn, SignInError> {
        let name = name.trim();
        let account = self.store.lock().await.get(name).cloned();
        let now = self.now();
        if let Some(until) = account.as_ref().and_then(|a| a.locked_until) {
            if until > now {
                return Err(SignInError::Locked(fmt_unix(until)));
            }
        }
        let stored_hash = account
            .as_ref()
            .map_or_else(|| self.decoy_hash.clone(), |a| a.password.clone());
        let given = password.to_owned();
        let password_holds = password.len() <= MAX_PASSWORD_BYTES
            && self
                .hashing(move || verify_password(&given, &stored_hash))
                .await?;
        let Some(account) = account else {
            return Err(SignInError::Wrong);
        };
        let how = if account.totp_required {
            "password+totp"
        } else {
            "password"
        };
        let detail = format!("{how} from {address}");
        if !password_holds || account.disabled {
            return Err(self.failed(name, &account, &detail).await);
        }
        let mut step = account.totp_last_step;
        if account.totp_required {
            if code.trim().is_empty() {
                return Err(SignInError::CodeNeeded);
            }
            let secret = account
                .totp_secret
                .as_deref()
                .and_then(TotpSecret::from_base32);
            step = secret.and_then(|s| s.verify(code, now, account.totp_last_step));
            if step.is_none() {
                return Err(self.failed(name, &account, &detail).await);
            }
        }
        let mut store = self.store.lock().await;
        store
            .write(|accounts| {
                if let Some(stored) = accounts.get_mut(name) {
                    stored.failures = 0;
                    stored.locked_until = None;
                    stored.last_sign_in = Some(now);
                    stored.totp_last_step = step;
                }
            })
            .map_err(|error| {
                tracing::error!(
                    error = format!("{error:#}"),
                    "cannot write the account store"
                );
                SignInError::Failed
            })?;
        drop(store);
        let by = format!("user:{name}");
        self.record(
            name,
            AccountEventKind::SignedIn,
            &by,
            &account.role,
            &account.unit,
            &detail,
        )
        .await
        .map_err(|_| SignInError::Failed)?;
        Ok(SignedIn {
            principal: principal(name, &account, self.context.country)
                .ok_or(SignInError::Failed)?,
            display_name: account.display_name,
            language: account.language,
        })
    }

    /// Counts a failure, locking the account when it is one too many; the error to answer.
    async fn failed(&self, name: &str, account: &StoredAccount, detail: &str) -> SignInError {
        let now = self.now();
        let until = now + self.settings.lockout_duration.as_secs();
        // Counted from the stored value under the lock, so failures at the same moment all count.
        let mut failures = account.failures + 1;
        let mut store = self.store.lock().await;
        if let Some(stored) = store.get(name) {
            failures = stored.failures + 1;
        }
        let lock = failures >= self.settings.lockout_after;
        let written = store.write(|accounts| {
            if let Some(stored) = accounts.get_mut(name) {
                stored.failures = if lock { 0 } else { failures };
                if lock {
                    stored.locked_until = Some(until);
                }
            }
        });
        drop(store);
        if let Err(error) = written {
            tracing::error!(
                error = format!("{error:#}"),
                "cannot write the account store"
            );
            return SignInError::Failed;
        }
        let by = format!("user:{name}");
        let (role, unit) = (&account.role, &account.unit);
        let recorded = self
            .record(
                name,
                AccountEventKind::SignInFailed,
                &by,
                role,
                unit,
                detail,
            )
            .await;
        tracing::warn!(account = %name, detail, "sign-in failed");
        if lock {
            let why = format!(
                "{failures} failed sign-ins in a row; locked until {}",
                fmt_unix(until)
            );
            let _ = self
                .record(name, AccountEventKind::Locked, &by, role, unit, &why)
                .await;
            tracing::warn!(account = %name, why, "account locked");
            return SignInError::Locked(fmt_unix(until));
        }
        match recorded {
            Ok(_) => SignInError::Wrong,
            Err(_) => SignInError::Failed,
        }
    }

    /// Records a sign-in to the console with a client certificate, under the principal it names.
    pub(crate) async fn record_certificate_sign_in(
        &self,
        principal: &Principal,
        address: IpAddr,
    ) -> Result<(), ApiError> {
        let unit = principal
            .units
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        let detail = format!("certificate from {address}");
        self.record(
            &principal.name,
            AccountEventKind::SignedIn,
            &principal.name,
            principal.role.as_str(),
            &unit,
            &detail,
        )
        .await
        .map(|_| ())
    }

    /// The principal of an enabled account, for a session being used.
    pub(crate) async fn principal(&self, name: &str) -> Option<Principal> {
        let store = self.store.lock().await;
        let account = store.get(name).filter(|a| !a.disabled)?;
        principal(name, account, self.context.country)
    }

    async fn record(
        &self,
        account: &str,
        kind: AccountEventKind,
        by: &str,
        role: &str,
        unit: &str,
        detail: &str,
    ) -> Result<u64, ApiError> {
        let entry = proto::LedgerEntry {
            recorded_at: Some(to_timestamp(self.context.clock.now())),
            kind: Some(Kind::AccountEvent(proto::AccountEvent {
                account: account.to_owned(),
                kind: kind as i32,
                by: by.to_owned(),
                role: role.to_owned(),
                unit: unit.to_owned(),
                detail: detail.to_owned(),
            })),
            ..Default::default()
        };
        Ok(self.context.append(entry).await?.index)
    }

    fn info(&self, name: &str, account: &StoredAccount) -> proto::UserInfo {
        let at = |secs: u64| to_timestamp(UNIX_EPOCH + Duration::from_secs(secs));
        proto::UserInfo {
            name: name.to_owned(),
            display_name: account.display_name.clone(),
            role: account.role.clone(),
            unit: account.unit.clone(),
            language: account.language.clone(),
            totp_required: account.totp_required,
            disabled: account.disabled,
            locked_until: account
                .locked_until
                .filter(|until| *until > self.now())
                .map(at),
            failed_sign_ins: account.failures,
            last_sign_in_at: account.last_sign_in.map(at),
            created_at: Some(at(account.created)),
        }
    }

    fn enrolment(&self, name: &str, secret: &TotpSecret) -> proto::TotpEnrolment {
        let issuer = format!("Tulpar {}", self.context.country);
        proto::TotpEnrolment {
            secret: secret.base32(),
            uri: secret.uri(&issuer, name),
        }
    }
}

/// What a signed-in account acts as.
fn principal(
    name: &str,
    account: &StoredAccount,
    country: tulpar_core::codes::CountryCode,
) -> Option<Principal> {
    let role = Role::parse(&account.role)?;
    let units = match role {
        Role::Officer => vec![UnitId::parse(&account.unit).ok()?],
        _ => Vec::new(),
    };
    Some(Principal {
        role,
        country,
        units,
        name: format!("user:{name}"),
    })
}

/// Sign-in names: 3 to 64 lowercase letters, digits, '.', '-' or '_'.
fn check_name(name: &str) -> Result<(), String> {
    let valid = (3..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
    if valid {
        Ok(())
    } else {
        Err("is 3 to 64 lowercase letters, digits, '.', '-' or '_'".into())
    }
}

/// Passwords: long enough to resist guessing, short enough to hash, not the name or a common one.
fn check_password(password: &str, name: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("has at least {MIN_PASSWORD_CHARS} characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("has at most {MAX_PASSWORD_BYTES} bytes"));
    }
    let lower = password.to_lowercase();
    let one_character = password.chars().all(|c| password.starts_with(c));
    if lower == name || crate::config::is_common_secret(password) || one_character {
        return Err(
            "is one anyone could guess (the name, a common password, one repeated character)"
                .into(),
        );
    }
    Ok(())
}

/// An Argon2id hash of `password` with a random salt, as a PHC string.
fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    Ok(Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string())
}

/// Whether `password` matches the PHC string `hash` (with the parameters written in it).
fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

fn unix(time: SystemTime) -> u64 {
    u64::try_from(unix_seconds(time)).unwrap_or(0)
}

fn fmt_unix(secs: u64) -> String {
    tulpar_trust::directory::fmt_time(UNIX_EPOCH + Duration::from_secs(secs))
}

fn store_fault(error: anyhow::Error) -> ApiError {
    ApiError::internal(format!("the account store: {error:#}"))
}

fn sign_in_fault(error: SignInError) -> ApiError {
    match error {
        SignInError::Busy => ApiError::Unavailable("the node is busy hashing; retry".into()),
        other => ApiError::internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests;
