//! A pasted personal access token, from shape check to installed short-lived token: SCIM Me says
//! whose it is (it must be the owner's), kiln mints its own short-lived token with it, installs
//! that, then revokes the pasted token if it can be identified without doubt (see
//! [`identify_and_revoke`]); otherwise the user is told it stays valid until its own expiry.
//! Any refusal changes nothing.

use super::owner::same_email;
use super::remote::{Patience, Remote, Revoked, token_id_of};
use super::rotation::Rotation;
use kiln_databricks::Secret;
use serde::Serialize;

/// Longest token accepted (4 KiB: PATs are 38 characters, OAuth tokens about 1 KiB).
const MAX_TOKEN_CHARS: usize = 4096;
/// Shortest token accepted.
const MIN_TOKEN_CHARS: usize = 8;

/// Why a pasted token was refused (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// Not shaped like a token at all.
    #[error("{0}")]
    Malformed(String),
    /// Databricks refused it (invalid, revoked or expired).
    #[error("{0}")]
    Refused(String),
    /// Someone else's token.
    #[error(
        "this token belongs to {who}; this kiln accepts only tokens of its owner, {owner}. \
         Create a token while signed in as {owner}."
    )]
    NotOwner {
        /// Whose token it is.
        who: String,
        /// The owner.
        owner: String,
    },
    /// The workspace could not be reached or failed.
    #[error("{0}")]
    Unavailable(String),
    /// kiln does not take pasted tokens in this configuration.
    #[error("{0}")]
    NotAccepting(String),
    /// The owner is not known yet (Databricks Apps).
    #[error("kiln does not know its owner yet: {0}")]
    OwnerUnknown(String),
}

/// What happened to the pasted token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PastedFate {
    /// It was identified and revoked: kiln's own short-lived token replaces it.
    Revoked {
        /// Its id.
        token_id: String,
    },
    /// It could not be identified (or revoked) without doubt and stays valid.
    Kept {
        /// Why, and what the user may do (revoke it in the token page).
        message: String,
    },
}

/// A successful paste.
#[derive(Debug, Clone, Serialize)]
pub struct Bootstrapped {
    /// The token's user.
    pub user: String,
    /// Id of kiln's new token.
    pub token_id: String,
    /// Its lifetime in seconds.
    pub lifetime_seconds: i64,
    /// The pasted token's fate.
    pub pasted: PastedFate,
}

/// Checks the shape of a pasted token: one line of visible ASCII, 8 to 4096 characters.
pub fn check_shape(raw: &str) -> Result<Secret, BootstrapError> {
    let t = raw.trim();
    let ok = (MIN_TOKEN_CHARS..=MAX_TOKEN_CHARS).contains(&t.len())
        && t.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(Secret::new(t))
    } else {
        Err(BootstrapError::Malformed(
            "that does not look like a Databricks personal access token (one line of letters \
             and digits, usually starting with dapi)"
                .into(),
        ))
    }
}

/// Validates `pasted`, mints and installs kiln's token, and deals with the pasted one.
/// `owner` is the owner's email on Databricks Apps (`None` elsewhere: any user is accepted).
pub async fn bootstrap(
    rotation: &Rotation,
    pasted: Secret,
    owner: Option<&str>,
) -> Result<Bootstrapped, BootstrapError> {
    let remote = rotation.remote();
    let _op = rotation.exclusive().await;
    let me = remote
        .me(&pasted, Patience::Patient)
        .await
        .map_err(|e| refused_or_unavailable(&e, "check the token", false))?;
    let who = me.email().unwrap_or(&me.user_name).to_owned();
    if let Some(owner) = owner {
        let matches =
            same_email(&me.user_name, owner) || me.email().is_some_and(|e| same_email(e, owner));
        if !matches {
            tracing::warn!(who = %who, owner = %owner, "refused a pasted token of another identity");
            return Err(BootstrapError::NotOwner {
                who: if me.is_service_principal() {
                    format!("the service principal {}", me.user_name)
                } else {
                    who
                },
                owner: owner.to_owned(),
            });
        }
    }
    let plan = rotation.plan();
    rotation.record_intent();
    let created = remote
        .mint(&pasted, plan.lifetime, &plan.comment, Patience::Once)
        .await
        .map_err(|e| refused_or_unavailable(&e, "create kiln's short-lived token", true))?;
    let lifetime_seconds = created.lifetime_ms / 1000;
    let minted = rotation.install(created);
    let pasted_fate = identify_and_revoke(remote, &minted.value, &pasted).await;
    tracing::info!(user = %who, token_id = %minted.id, pasted = ?pasted_fate, "pasted token accepted");
    Ok(Bootstrapped {
        user: who,
        token_id: minted.id.clone(),
        lifetime_seconds,
        pasted: pasted_fate,
    })
}

/// The pasted token is revoked only when the owner's token list holds exactly one token whose
/// `token_id` is the SHA-256 of the pasted value (how Databricks documents token ids). A hash
/// match cannot be a coincidence, so the revocation can never hit another token; when the list
/// has no match (a workspace that derives ids otherwise, or an OAuth token that is not a PAT)
/// nothing is revoked and the user is told.
pub async fn identify_and_revoke(remote: &Remote, ours: &Secret, pasted: &Secret) -> PastedFate {
    let kept = |why: String| PastedFate::Kept {
        message: format!(
            "{why}; the token you pasted stays valid until its own expiry. Revoke it in the \
             workspace's access-token settings if you no longer need it."
        ),
    };
    let id = token_id_of(pasted);
    let tokens = match remote.list(ours, Patience::Patient).await {
        Ok(t) => t,
        Err(e) => return kept(format!("kiln could not list your tokens ({e})")),
    };
    let matching = tokens.iter().filter(|t| t.token_id == id).count();
    if matching != 1 {
        return kept("kiln could not identify the pasted token among your tokens".into());
    }
    match remote.revoke(ours, &id, Patience::Patient).await {
        Ok(Revoked::Now | Revoked::AlreadyGone) => PastedFate::Revoked { token_id: id },
        Err(e) => kept(format!("kiln could not revoke it ({e})")),
    }
}

/// `identified`: the token already passed SCIM Me, so a 403 is about the call, not the token.
fn refused_or_unavailable(
    e: &kiln_databricks::Error,
    doing: &str,
    identified: bool,
) -> BootstrapError {
    match e.status() {
        Some(401) if !identified => BootstrapError::Refused(
            "Databricks did not accept this as a credential. Paste a personal access token.".into(),
        ),
        Some(403) if !identified && e.is_auth_failure() => BootstrapError::Refused(
            "Databricks refused this token: it is invalid, revoked or expired.".into(),
        ),
        Some(s) if (400..500).contains(&s) && s != 429 => {
            BootstrapError::Refused(format!("Databricks refused to {doing}: {e}"))
        }
        _ => BootstrapError::Unavailable(format!("cannot {doing} right now: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(check_shape("dapi0123456789abcdef0123456789abcdef").is_ok());
        assert!(check_shape("  dapi0123456789abcdef\n").is_ok());
        for bad in [
            "",
            "short",
            "has space inside it",
            "dapi\u{e9}xxxxxxxxx",
            "a\nbcdefghij",
        ] {
            assert!(check_shape(bad).is_err(), "{bad:?}");
        }
        assert!(check_shape(&"x".repeat(5000)).is_err());
        let e = check_shape("nope").unwrap_err().to_string();
        assert!(!e.contains("nope"), "the refusal does not echo the input");
    }
}
