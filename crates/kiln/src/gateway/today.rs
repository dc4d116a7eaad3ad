//! Today's usage per agent and model (UTC day), kept across gateway restarts in
//! `<state dir>/usage-today.json` (0600, written atomically at most every 15 s while it changes,
//! and when the gateway stops). A file from another day, or one that does not parse, starts the
//! day from zero (a bad file is left for the next write to replace, never read as numbers).
//! Bounded like the session store: 512 entries, model names cut at 128 characters.

use super::Gateway;
use super::outcome::{MAX_ENTRIES, Outcome, entry_model};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// File name in the state directory.
pub const FILE_NAME: &str = "usage-today.json";
const SAVE_EVERY: Duration = Duration::from_secs(15);

/// One agent and model's totals today.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayUsage {
    /// Agent name.
    pub agent: String,
    /// Model name.
    pub model: String,
    /// Requests answered.
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Input tokens (cache reads and writes included).
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
}

/// Today's totals, as in `GET /api/usage` → `today` and the file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodayUsage {
    /// The UTC day (`YYYY-MM-DD`).
    pub date: String,
    /// Per agent and model.
    pub agents: Vec<DayUsage>,
}

#[derive(Debug, Default)]
struct Day {
    date: String,
    entries: BTreeMap<(String, String), DayUsage>,
    dirty: bool,
}

/// Today's totals with their file.
#[derive(Debug)]
pub struct TodayStore {
    path: PathBuf,
    day: Mutex<Day>,
}

fn today(now: SystemTime) -> String {
    crate::time::rfc3339(now).chars().take(10).collect()
}

impl TodayStore {
    /// Loads today's file from `state_dir` if it is from today.
    pub fn load(state_dir: &Path) -> Self {
        let path = state_dir.join(FILE_NAME);
        let date = today(SystemTime::now());
        let mut day = Day {
            date: date.clone(),
            ..Day::default()
        };
        let read = std::fs::read(&path).ok().and_then(|bytes| {
            (bytes.len() <= 4 << 20)
                .then(|| serde_json::from_slice::<TodayUsage>(&bytes).ok())
                .flatten()
        });
        if let Some(saved) = read.filter(|t| t.date == date) {
            for u in saved.agents.into_iter().take(MAX_ENTRIES + 1) {
                day.entries.insert((u.agent.clone(), u.model.clone()), u);
            }
        }
        TodayStore {
            path,
            day: Mutex::new(day),
        }
    }

    /// Adds one call.
    pub fn record(&self, o: &Outcome) {
        let date = today(SystemTime::now());
        let mut day = self.day.lock().unwrap_or_else(PoisonError::into_inner);
        if day.date != date {
            day.date = date;
            day.entries.clear();
        }
        let agent = o.agent.name().to_owned();
        let model = entry_model(&o.model, day.entries.len(), |m| {
            day.entries.contains_key(&(agent.clone(), m.to_owned()))
        });
        let e = day
            .entries
            .entry((agent.clone(), model.clone()))
            .or_insert_with(|| DayUsage {
                agent,
                model,
                ..DayUsage::default()
            });
        e.requests += 1;
        if o.status >= 400 || o.error.is_some() {
            e.errors += 1;
        }
        e.input_tokens += o.tokens.input;
        e.output_tokens += o.tokens.output;
        day.dirty = true;
    }

    /// Today's totals (a new day shows empty until its first call).
    pub fn snapshot(&self) -> TodayUsage {
        let day = self.day.lock().unwrap_or_else(PoisonError::into_inner);
        let date = today(SystemTime::now());
        TodayUsage {
            agents: if day.date == date {
                day.entries.values().cloned().collect()
            } else {
                Vec::new()
            },
            date,
        }
    }

    /// Writes the file if anything changed since the last write.
    pub fn save(&self) {
        let bytes = {
            let mut day = self.day.lock().unwrap_or_else(PoisonError::into_inner);
            if !day.dirty {
                return;
            }
            day.dirty = false;
            let t = TodayUsage {
                date: day.date.clone(),
                agents: day.entries.values().cloned().collect(),
            };
            serde_json::to_vec(&t).unwrap_or_default()
        };
        let written = self
            .path
            .parent()
            .map_or(Ok(()), crate::state::ensure_private_dir)
            .and_then(|()| crate::state::write_private(&self.path, &bytes));
        if let Err(e) = written {
            tracing::warn!(file = %self.path.display(), error = %e, "cannot save today's usage");
        }
    }
}

/// Saves today's totals every 15 s while they change, and once more when `cancel` fires.
pub(super) fn spawn_saver(gw: Arc<Gateway>, cancel: CancellationToken) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(SAVE_EVERY) => gw.today.save(),
                _ = cancel.cancelled() => break,
            }
        }
        gw.today.save();
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::Caller;
    use crate::gateway::outcome::Tokens;

    fn outcome(model: &str, input: u64) -> Outcome {
        Outcome {
            agent: Caller::Agent(crate::agent::Agent::Gemini),
            model: model.into(),
            status: 200,
            error: None,
            latency: Duration::from_millis(5),
            first_byte: None,
            tokens: Tokens {
                input,
                output: 1,
                ..Tokens::default()
            },
        }
    }

    #[test]
    fn kept_across_restarts_of_the_same_day() {
        let dir = tempfile::tempdir().unwrap();
        let s = TodayStore::load(dir.path());
        s.record(&outcome("m", 10));
        s.record(&outcome("m", 5));
        s.save();
        let again = TodayStore::load(dir.path());
        let t = again.snapshot();
        assert_eq!(t.agents.len(), 1);
        assert_eq!((t.agents[0].requests, t.agents[0].input_tokens), (2, 15));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn other_days_and_garbage_start_from_zero() {
        let dir = tempfile::tempdir().unwrap();
        let old = TodayUsage {
            date: "2001-01-01".into(),
            agents: vec![DayUsage {
                agent: "claude".into(),
                model: "m".into(),
                requests: 9,
                ..DayUsage::default()
            }],
        };
        std::fs::write(
            dir.path().join(FILE_NAME),
            serde_json::to_vec(&old).unwrap(),
        )
        .unwrap();
        assert!(TodayStore::load(dir.path()).snapshot().agents.is_empty());
        std::fs::write(dir.path().join(FILE_NAME), b"{not json").unwrap();
        let s = TodayStore::load(dir.path());
        assert!(s.snapshot().agents.is_empty());
        for i in 0..MAX_ENTRIES + 3 {
            s.record(&outcome(&format!("m{i}"), 1));
        }
        assert_eq!(s.snapshot().agents.len(), MAX_ENTRIES + 1);
    }
}
