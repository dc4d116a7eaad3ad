//! What `kiln app` tells a user when it cannot finish: one typed error per situation a user can
//! act on, each with the fix in its message, an exit status (2: fix the command or the
//! configuration; 1: the workspace refused or the deployment failed), and, once something was
//! changed in the workspace, what was left behind and how to finish or undo it.

use super::binary::BinaryError;
use std::fmt;

/// What a deploy left in the workspace when it stopped early.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftover {
    /// App name.
    pub name: String,
    /// The profile flag to repeat in suggested commands (`" --profile P"` or empty).
    pub profile_flag: String,
    /// Source folder written (possibly partly), if the upload started.
    pub source_path: Option<String>,
    /// The app exists (and whether this run created it).
    pub app: Option<AppLeft>,
}

/// The app's condition when the deploy stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppLeft {
    /// Created by this run.
    pub created_now: bool,
    /// Compute and app state as last seen (e.g. `compute ACTIVE, app CRASHED`).
    pub state: String,
    /// The deployment that is (still) running, if any.
    pub running_deployment: Option<String>,
}

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.source_path.is_none() && self.app.is_none() {
            return Ok(());
        }
        let name = &self.name;
        let profile = &self.profile_flag;
        write!(f, "\nleft in the workspace:")?;
        if let Some(p) = &self.source_path {
            write!(f, "\n  - the app source in {p} (possibly incomplete)")?;
        }
        match &self.app {
            Some(a) => {
                let how = if a.created_now {
                    "created by this run"
                } else {
                    "existed before"
                };
                write!(f, "\n  - the app {name} ({how}; {})", a.state)?;
                match &a.running_deployment {
                    Some(d) => write!(f, ", still serving the earlier deployment {d}")?,
                    None => write!(f, ", serving no deployment")?,
                }
            }
            None => write!(f, "\n  - no app: {name} was not created")?,
        }
        write!(
            f,
            "\nto finish: fix the cause and run `kiln app deploy {name}{profile}` again \
             (only changed files are uploaded); `kiln app status {name}{profile}` shows the state"
        )?;
        write!(f, "\nto undo:")?;
        if self.app.as_ref().is_some_and(|a| a.created_now) {
            write!(f, " `databricks apps delete {name}{profile}`,")?;
        }
        if let Some(p) = &self.source_path {
            write!(
                f,
                " `databricks workspace delete --recursive {p}{profile}`,"
            )?;
        }
        write!(f, " or delete them in the workspace UI")
    }
}

/// Why `kiln app` failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No usable Databricks configuration.
    #[error(
        "no usable Databricks credentials: {0}\nSet DATABRICKS_HOST and DATABRICKS_TOKEN, or \
         configure a profile in ~/.databrickscfg (`databricks configure` writes one) and pass \
         --profile NAME"
    )]
    Config(String),
    /// A bad flag value (app name, path).
    #[error("{0}")]
    Usage(String),
    /// The binary cannot go into an app.
    #[error(transparent)]
    Binary(#[from] BinaryError),
    /// The workspace refused the credentials.
    #[error(
        "the workspace refused the credentials: {error}\nCheck the token (it may be expired) or \
         the profile: `kiln whoami{profile_flag}` shows which settings are used"
    )]
    Refused {
        /// The refusal.
        error: Box<kiln_databricks::Error>,
        /// `" --profile P"` or empty.
        profile_flag: String,
    },
    /// The user may not do what the step needs.
    #[error("permission denied while {what}: {error}\n{hint}{leftover}")]
    NoPermission {
        /// The step.
        what: String,
        /// The refusal.
        error: Box<kiln_databricks::Error>,
        /// What to do.
        hint: String,
        /// State left behind.
        leftover: Box<Leftover>,
    },
    /// The name belongs to another user's app.
    #[error(
        "the app name {name} is taken: that app belongs to {owner}. kiln only deploys over \
         apps you created; choose another name, e.g. `kiln app deploy {name}-2`"
    )]
    TakenByOther {
        /// The name.
        name: String,
        /// Its creator.
        owner: String,
    },
    /// The deployment ended in a failure state.
    #[error(
        "deployment {deployment} of app {name} failed: {message}{app_message}\nThe app's logs \
         (its URL + /logz) show why the command exited.{leftover}"
    )]
    DeployFailed {
        /// App name.
        name: String,
        /// Deployment id.
        deployment: String,
        /// The deployment's status message.
        message: String,
        /// The app's status message, when different (`"; app: …"`).
        app_message: String,
        /// State left behind.
        leftover: Box<Leftover>,
    },
    /// A wait ran out of time.
    #[error("timed out after {secs} s while {step} (last state {last_state}){leftover}")]
    Timeout {
        /// What was being waited for.
        step: String,
        /// Seconds waited.
        secs: u64,
        /// Last state seen.
        last_state: String,
        /// State left behind.
        leftover: Box<Leftover>,
    },
    /// Any other failure of a step.
    #[error("{step} failed: {error}{leftover}")]
    Step {
        /// The step.
        step: String,
        /// The failure.
        error: Box<kiln_databricks::Error>,
        /// State left behind.
        leftover: Box<Leftover>,
    },
    /// Ctrl-C during a deploy.
    #[error("interrupted while {step}{leftover}")]
    Interrupted {
        /// The step.
        step: String,
        /// State left behind.
        leftover: Box<Leftover>,
    },
    /// A local file problem (package, reading state).
    #[error("{0}")]
    Io(String),
}

impl AppError {
    /// Process exit status: 2 for command or configuration problems, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Config(_) | AppError::Usage(_) | AppError::Binary(_) => 2,
            _ => 1,
        }
    }
}
