//! `kiln app status`: the app's state, its compute's, its last deployment's, and its URL.

use super::deploy::state_name;
use kiln_databricks::api::apps::{App, AppDeployment};
use std::fmt::Write as _;

fn deployment_line(d: &AppDeployment) -> String {
    let mut s = String::new();
    let _ = write!(s, "{}", d.deployment_id.as_deref().unwrap_or("?"));
    if let Some(st) = &d.status {
        let _ = write!(s, " {}", state_name(st.state));
        if let Some(m) = st.message.as_deref().filter(|m| !m.is_empty()) {
            let _ = write!(s, " ({m})");
        }
    }
    if let Some(t) = &d.create_time {
        let _ = write!(s, ", created {t}");
    }
    if let Some(p) = &d.source_code_path {
        let _ = write!(s, ", from {p}");
    }
    s
}

/// The report `kiln app status` prints.
pub fn render(app: &App) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "app:          {}", app.name);
    let _ = writeln!(s, "url:          {}", app.url.as_deref().unwrap_or("-"));
    if let Some(a) = &app.app_status {
        let _ = writeln!(
            s,
            "app state:    {} ({})",
            state_name(a.state),
            a.message.as_deref().unwrap_or("")
        );
    }
    if let Some(c) = &app.compute_status {
        let _ = writeln!(
            s,
            "compute:      {} ({})",
            state_name(c.state),
            c.message.as_deref().unwrap_or("")
        );
    }
    match &app.active_deployment {
        Some(d) => {
            let _ = writeln!(s, "active:       {}", deployment_line(d));
        }
        None => {
            let _ = writeln!(s, "active:       none (never deployed successfully)");
        }
    }
    if let Some(d) = &app.pending_deployment {
        let _ = writeln!(s, "pending:      {}", deployment_line(d));
    }
    let _ = writeln!(s, "creator:      {}", app.creator.as_deref().unwrap_or("-"));
    s
}
