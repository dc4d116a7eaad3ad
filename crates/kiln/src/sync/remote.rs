//! The workspace side of a sync: the Databricks client (the owner's current token, asked per
//! request, so a rotation in the middle of a sync is invisible), the user whose folder is used
//! (SCIM `Me`, asked once), and the paths: files under
//! `/Workspace/Users/<user>/projects/<name>/`, history and manifest under
//! `/Workspace/Users/<user>/projects/.kiln/<name>/`.

use kiln_databricks::{Client, ClientOptions, Error, RetryPolicy, TokenSource};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// Folder (under the projects folder) that holds kiln's history and manifests.
pub const HISTORY_DIR: &str = ".kiln";
/// The manifest's name in a project's history folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// A workspace to sync into. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Remote {
    client: Client,
    user: Arc<OnceCell<String>>,
}

/// The client options of sync: the SDK policy (429/503 with `Retry-After`, connection errors),
/// with a retry budget per request of `budget` (the sync itself is retried later, so a long
/// outage shows as a failed attempt with its reason instead of a silent wait) and room for
/// large uploads.
pub fn client_options(budget: Duration) -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            budget,
            request_timeout: Duration::from_secs(300),
            ..RetryPolicy::default()
        },
        ..ClientOptions::default()
    }
}

impl Remote {
    /// A remote over an existing client.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            user: Arc::new(OnceCell::new()),
        }
    }

    /// A remote for `host` whose token comes from `source` (kiln serve's token cell).
    pub fn with_token_source(
        host: &str,
        source: Arc<dyn TokenSource>,
        budget: Duration,
    ) -> Result<Self, Error> {
        let config = kiln_databricks::ConfigLoader::new(kiln_databricks::Environment::new())
            .set(kiln_databricks::Attr::Host, host)
            .load()?;
        Ok(Self::new(Client::with_token_source(
            &config,
            source,
            client_options(budget),
        )?))
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The user name of the token's owner (asked once).
    pub async fn user(&self) -> Result<String, Error> {
        self.user
            .get_or_try_init(|| async { Ok(self.client.scim().me().await?.user_name) })
            .await
            .cloned()
    }

    /// `/Workspace/Users/<user>/projects`.
    pub async fn projects_root(&self) -> Result<String, Error> {
        Ok(format!("/Workspace/Users/{}/projects", self.user().await?))
    }

    /// `/Workspace/Users/<user>/projects/<name>`.
    pub async fn project_root(&self, name: &str) -> Result<String, Error> {
        Ok(format!("{}/{name}", self.projects_root().await?))
    }

    /// `/Workspace/Users/<user>/projects/.kiln/<name>`.
    pub async fn history_root(&self, name: &str) -> Result<String, Error> {
        Ok(format!(
            "{}/{HISTORY_DIR}/{name}",
            self.projects_root().await?
        ))
    }

    /// The project's manifest in the workspace; `None` when there is none.
    pub async fn manifest(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        let path = format!("{}/{MANIFEST_FILE}", self.history_root(name).await?);
        match self.client.workspace().export_raw(&path).await {
            Ok(b) => Ok(Some(b.to_vec())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}
