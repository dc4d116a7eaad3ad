//! Configuring: every selected item's file changes, computed first ([`plan`]) so they can be
//! shown as a diff (`--dry-run`) or applied. One item failing (a file kiln cannot parse, a model
//! the workspace lacks) does not stop the others.

use super::context::Context;
use super::plan::{ConfigureError, FileChange, ensure_dir};
use super::{Agent, Selection, claude, codex, databricks_cli, gemini, git, hermes, opencode};
use std::fmt;
use std::path::PathBuf;

/// Something kiln configures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// A coding agent.
    Agent(Agent),
    /// Git identity.
    Git,
    /// The Databricks CLI's profile.
    Databricks,
}

impl Item {
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Item::Agent(a) => a.name(),
            Item::Git => "git",
            Item::Databricks => "databricks",
        }
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One item's changes.
#[derive(Debug)]
pub struct ItemPlan {
    /// The item.
    pub item: Item,
    /// Files to write.
    pub files: Vec<FileChange>,
    /// Directories to create.
    pub dirs: Vec<PathBuf>,
    /// Remarks (values kept, things not written).
    pub notes: Vec<String>,
    /// Why the item cannot be configured (nothing is written for it).
    pub error: Option<String>,
}

impl ItemPlan {
    fn new(item: Item) -> Self {
        Self {
            item,
            files: Vec::new(),
            dirs: Vec::new(),
            notes: Vec::new(),
            error: None,
        }
    }

    /// True when nothing would change.
    pub fn is_noop(&self) -> bool {
        self.files.is_empty() && self.dirs.is_empty()
    }

    /// The diff of every change, secrets redacted.
    pub fn diff(&self, redact: &[String]) -> String {
        let mut out = String::new();
        for d in &self.dirs {
            out.push_str(&format!("(new directory {})\n", d.display()));
        }
        for f in &self.files {
            out.push_str(&f.diff(redact));
        }
        out
    }

    /// Writes the changes.
    pub fn apply(&self) -> Result<(), ConfigureError> {
        for d in &self.dirs {
            ensure_dir(d)?;
        }
        for f in &self.files {
            f.apply()?;
        }
        Ok(())
    }
}

/// The changes for one agent.
pub fn plan_agent(ctx: &Context, agent: Agent) -> ItemPlan {
    let mut p = ItemPlan::new(Item::Agent(agent));
    let files = match agent {
        Agent::Claude => claude::plan(ctx),
        Agent::Codex => codex::plan(ctx),
        Agent::Gemini => gemini::plan(ctx),
        Agent::OpenCode => opencode::plan(ctx),
        Agent::Hermes => hermes::plan(ctx),
    };
    match files {
        Ok(f) => p.files = f,
        Err(e) => p.error = Some(e.to_string()),
    }
    p
}

/// The git changes.
pub fn plan_git(ctx: &Context) -> ItemPlan {
    let mut p = ItemPlan::new(Item::Git);
    match git::plan(ctx) {
        Ok(g) => {
            p.files.extend(g.file);
            p.notes = g.notes;
        }
        Err(e) => p.error = Some(e.to_string()),
    }
    p
}

/// The Databricks CLI changes.
pub fn plan_databricks(ctx: &Context) -> ItemPlan {
    let mut p = ItemPlan::new(Item::Databricks);
    match databricks_cli::plan(ctx) {
        Ok(c) => {
            p.files.extend(c.file);
            p.notes = c.notes;
        }
        Err(e) => p.error = Some(e.to_string()),
    }
    p
}

/// The changes of every selected item.
pub fn plan(ctx: &Context, sel: &Selection) -> Vec<ItemPlan> {
    let mut out: Vec<ItemPlan> = sel.agents.iter().map(|a| plan_agent(ctx, *a)).collect();
    if sel.git {
        out.push(plan_git(ctx));
    }
    if sel.databricks {
        out.push(plan_databricks(ctx));
    }
    out
}
