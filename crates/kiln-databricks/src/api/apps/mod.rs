//! Databricks Apps: get, list, create, delete, deploy, get-deployment, start, stop, and waiting
//! for compute or deployment states (`/api/2.0/apps/...`).

mod types;

pub use types::*;

use crate::Client;
use crate::error::Result;
use crate::http::{Request, encode_path};
use crate::wait::{Poll, wait_for};
use reqwest::Method;
use serde::Deserialize;
use std::time::Duration;

#[derive(Deserialize)]
struct AppList {
    #[serde(default)]
    apps: Vec<App>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// Apps calls.
#[derive(Debug, Clone, Copy)]
pub struct AppsApi<'a> {
    client: &'a Client,
}

impl Client {
    /// Databricks Apps calls.
    pub fn apps(&self) -> AppsApi<'_> {
        AppsApi { client: self }
    }
}

fn app_path(name: &str, suffix: &str) -> Result<String> {
    if name.contains('/') {
        return Err(crate::Error::InvalidInput(format!(
            "app name {name:?} contains '/'"
        )));
    }
    Ok(format!(
        "/api/2.0/apps{}{suffix}",
        encode_path(&format!("/{name}"))?
    ))
}

impl AppsApi<'_> {
    /// `GET /api/2.0/apps/{name}`.
    pub async fn get(&self, name: &str) -> Result<App> {
        self.client
            .execute(Request::get(app_path(name, "")?))
            .await?
            .json()
    }

    /// `GET /api/2.0/apps`, following `next_page_token` to the end.
    pub async fn list(&self) -> Result<Vec<App>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = Request::get("/api/2.0/apps");
            if let Some(t) = &token {
                req = req.query("page_token", t);
            }
            let page: AppList = self.client.execute(req).await?.json()?;
            out.extend(page.apps);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// `POST /api/2.0/apps?no_compute=…`: creates an app (409 `AlreadyExists` if the name is taken).
    pub async fn create(&self, app: &App, no_compute: bool) -> Result<App> {
        let req = Request::post("/api/2.0/apps")
            .query("no_compute", no_compute)
            .json(app)?;
        self.client.execute(req).await?.json()
    }

    /// `DELETE /api/2.0/apps/{name}`.
    pub async fn delete(&self, name: &str) -> Result<App> {
        let req = Request::new(Method::DELETE, app_path(name, "")?);
        self.client.execute(req).await?.json()
    }

    /// `POST /api/2.0/apps/{name}/deployments`: starts a deployment.
    pub async fn deploy(&self, name: &str, deployment: &AppDeployment) -> Result<AppDeployment> {
        let req = Request::post(app_path(name, "/deployments")?).json(deployment)?;
        self.client.execute(req).await?.json()
    }

    /// `GET /api/2.0/apps/{name}/deployments/{id}`.
    pub async fn get_deployment(&self, name: &str, deployment_id: &str) -> Result<AppDeployment> {
        let id = encode_path(&format!("/{deployment_id}"))?;
        let req = Request::get(app_path(name, &format!("/deployments{id}"))?);
        self.client.execute(req).await?.json()
    }

    /// `POST /api/2.0/apps/{name}/start`.
    pub async fn start(&self, name: &str) -> Result<App> {
        let req = Request::post(app_path(name, "/start")?)
            .json(&serde_json::json!({}))?
            .idempotent();
        self.client.execute(req).await?.json()
    }

    /// `POST /api/2.0/apps/{name}/stop`.
    pub async fn stop(&self, name: &str) -> Result<App> {
        let req = Request::post(app_path(name, "/stop")?)
            .json(&serde_json::json!({}))?
            .idempotent();
        self.client.execute(req).await?.json()
    }

    /// Polls until the app's compute is `target` (`Active` fails early on `ERROR`/`STOPPED`;
    /// `Stopped` fails early on `ERROR`).
    pub async fn wait_for_compute(
        &self,
        name: &str,
        target: ComputeState,
        timeout: Duration,
    ) -> Result<App> {
        let what = format!("app {name}");
        let target_name = format!("{target:?}").to_ascii_uppercase();
        wait_for(
            &what,
            &target_name,
            timeout,
            self.client.max_poll_interval(),
            || async {
                let app = self.get(name).await?;
                let status = app.compute_status.clone();
                let state = status.as_ref().map(|s| s.state);
                let message = status.and_then(|s| s.message).unwrap_or_default();
                Ok(match state {
                    Some(s) if s == target => Poll::Ready(app),
                    Some(s @ ComputeState::Error) => Poll::Failed {
                        state: format!("{s:?}").to_ascii_uppercase(),
                        message,
                    },
                    Some(s @ ComputeState::Stopped) if target == ComputeState::Active => {
                        Poll::Failed {
                            state: format!("{s:?}").to_ascii_uppercase(),
                            message,
                        }
                    }
                    Some(s) => Poll::Pending(format!("{s:?}").to_ascii_uppercase()),
                    None => Poll::Pending("UNKNOWN".into()),
                })
            },
        )
        .await
    }

    /// Polls a deployment until `SUCCEEDED` (fails early on `FAILED` / `CANCELLED`).
    pub async fn wait_for_deployment(
        &self,
        name: &str,
        deployment_id: &str,
        timeout: Duration,
    ) -> Result<AppDeployment> {
        let what = format!("deployment {deployment_id} of app {name}");
        wait_for(
            &what,
            "SUCCEEDED",
            timeout,
            self.client.max_poll_interval(),
            || async {
                let d = self.get_deployment(name, deployment_id).await?;
                let message = d
                    .status
                    .as_ref()
                    .and_then(|s| s.message.clone())
                    .unwrap_or_default();
                Ok(match d.state() {
                    Some(DeploymentState::Succeeded) => Poll::Ready(d),
                    Some(s @ (DeploymentState::Failed | DeploymentState::Cancelled)) => {
                        Poll::Failed {
                            state: format!("{s:?}").to_ascii_uppercase(),
                            message,
                        }
                    }
                    Some(s) => Poll::Pending(format!("{s:?}").to_ascii_uppercase()),
                    None => Poll::Pending("UNKNOWN".into()),
                })
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_round_trip_and_unknowns() {
        let app: App = serde_json::from_str(
            r#"{"name":"agent-terminal","creator":"alice@example.com",
                "service_principal_client_id":"0b6e","service_principal_id":5566778899001122,
                "compute_status":{"state":"ACTIVE","message":"ok","active_instances":1},
                "app_status":{"state":"SOMETHING_NEW"},
                "active_deployment":{"deployment_id":"d1","mode":"SNAPSHOT","status":{"state":"SUCCEEDED"},
                   "deployment_artifacts":{"source_code_path":"/W/x"}},
                "brand_new_field":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(app.compute_state(), Some(ComputeState::Active));
        assert_eq!(app.app_status.as_ref().unwrap().state, AppState::Unknown);
        assert_eq!(
            app.active_deployment.as_ref().unwrap().state(),
            Some(DeploymentState::Succeeded)
        );
        assert!(app.extra.contains_key("brand_new_field"));
        let req = App {
            name: "x".into(),
            description: Some("d".into()),
            ..App::default()
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"name":"x","description":"d"}"#
        );
        let d = AppDeployment {
            source_code_path: Some("/Workspace/a".into()),
            mode: Some("SNAPSHOT".into()),
            ..AppDeployment::default()
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"source_code_path":"/Workspace/a","mode":"SNAPSHOT"}"#
        );
    }

    #[test]
    fn app_paths_are_encoded() {
        assert_eq!(
            app_path("agent-terminal", "/start").unwrap(),
            "/api/2.0/apps/agent-terminal/start"
        );
        assert!(app_path("../token", "").is_err());
        assert!(app_path("a/b", "").is_err());
        assert_eq!(app_path("a b", "").unwrap(), "/api/2.0/apps/a%20b");
    }
}
