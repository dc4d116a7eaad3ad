//! Progress of the setup runner, as `GET /api/agents` shows it: per item (agent or extra) its
//! state, its steps (`install`, `configure`) with start time, duration and message, the installed
//! version and the last lines of its output.

use super::Selection;
use super::configure::Item;
use super::models::Models;
use serde::Serialize;
use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

/// Lines of output kept per item (50).
pub const LOG_TAIL_LINES: usize = 50;
/// State of a step or an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not started.
    Pending,
    /// In progress.
    Running,
    /// Done.
    Ok,
    /// Failed.
    Failed,
    /// Not needed.
    Skipped,
}

/// One step (`install`, `configure`).
#[derive(Clone, Debug, Serialize)]
pub struct StepState {
    /// Step name.
    pub name: &'static str,
    /// Its state.
    pub status: Status,
    /// Start time, ms since the epoch.
    pub started_ms: Option<u64>,
    /// Duration, ms (when finished).
    pub duration_ms: Option<u64>,
    /// Outcome text.
    pub message: Option<String>,
}

/// One agent or extra.
#[derive(Clone, Debug, Serialize)]
pub struct ItemState {
    /// Short name.
    pub name: String,
    /// Human name.
    pub display: String,
    /// Overall state.
    pub status: Status,
    /// Installed version.
    pub version: Option<String>,
    /// Steps.
    pub steps: Vec<StepState>,
    /// Last output lines.
    pub log_tail: VecDeque<String>,
}

/// `GET /api/agents`.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    /// A run is in progress.
    pub running: bool,
    /// Runs started so far.
    pub runs: u64,
    /// Where the models came from.
    pub models_source: Option<String>,
    /// The chosen models.
    pub models: Option<Models>,
    /// Remarks of the last run.
    pub notes: Vec<String>,
    /// Items.
    pub items: Vec<ItemState>,
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(super) fn items(sel: &Selection) -> Vec<Item> {
    let mut v: Vec<Item> = sel.agents.iter().map(|a| Item::Agent(*a)).collect();
    if sel.git {
        v.push(Item::Git);
    }
    if sel.databricks {
        v.push(Item::Databricks);
    }
    v
}

pub(super) fn display(item: Item) -> String {
    match item {
        Item::Agent(a) => a.display().to_owned(),
        Item::Git => "Git identity".into(),
        Item::Databricks => "Databricks CLI".into(),
    }
}

pub(super) fn fresh_item(item: Item, with_install: bool) -> ItemState {
    let step = |name| StepState {
        name,
        status: Status::Pending,
        started_ms: None,
        duration_ms: None,
        message: None,
    };
    let mut steps = Vec::new();
    if with_install && matches!(item, Item::Agent(_)) {
        steps.push(step("install"));
    }
    steps.push(step("configure"));
    ItemState {
        name: item.name().to_owned(),
        display: display(item),
        status: Status::Pending,
        version: None,
        steps,
        log_tail: VecDeque::new(),
    }
}
