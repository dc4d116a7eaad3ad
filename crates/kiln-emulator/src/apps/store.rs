//! Creating apps in the world (the seeded app and `POST /api/2.0/apps` alike): the app object and
//! its service principal. Domain logic, no HTTP: the routes and the test controls both call it.

use super::model::{App, Compute, DeployState, Deployment, RunState};
use crate::ids;
use crate::world::World;

/// Credentials of a newly created app's service principal.
pub struct NewApp {
    /// Application (client) id.
    pub client_id: String,
    /// OAuth secret.
    pub secret: String,
}

/// Creates an app and its service principal. `active` starts it as already running with a
/// successful deployment of `/Users/<creator>/<name>` (used for the seeded app).
#[allow(clippy::too_many_arguments)]
pub fn insert_app(
    w: &mut World,
    name: &str,
    creator: &str,
    description: Option<String>,
    client_id: Option<String>,
    secret: Option<String>,
    now: i64,
    active: bool,
) -> NewApp {
    let client_id = client_id.unwrap_or_else(ids::uuid4);
    let secret = secret.unwrap_or_else(|| format!("dose{}", ids::hex(32)));
    let sp_name = format!("app-{} {name}", &ids::hex(3));
    let sp_id = w.add_service_principal(&client_id, &sp_name, &secret, now);
    let mut app = App {
        name: name.to_string(),
        id: ids::uuid4(),
        description,
        creator: creator.to_string(),
        updater: creator.to_string(),
        create_ms: now,
        update_ms: now,
        sp_id,
        sp_client_id: client_id.clone(),
        sp_secret: secret.clone(),
        sp_name,
        compute: Compute::Stopped,
        compute_next: None,
        deployments: Vec::new(),
        active_deployment: None,
        compute_size: "MEDIUM".into(),
        user_api_scopes: None,
        resources: None,
        gone: false,
        url: String::new(),
        run: RunState::Idle,
        acl: Vec::new(),
    };
    if active {
        let source = format!("/Workspace/Users/{creator}/{name}");
        let _ = w.tree.mkdirs(&format!("/Users/{creator}/{name}"), now);
        let id = ids::hex(16);
        app.compute = Compute::Active;
        app.deployments.push(Deployment {
            id: id.clone(),
            source_code_path: source,
            mode: "SNAPSHOT".into(),
            state: DeployState::Succeeded,
            message: "App started successfully".into(),
            outcome: None,
            done_ms: now,
            spec: None,
            artifacts_path: format!("/Workspace/Users/{client_id}/src/{id}"),
            creator: creator.to_string(),
            create_ms: now,
            update_ms: now,
            command: None,
            env_var_names: Vec::new(),
        });
        app.active_deployment = Some(id);
        app.run = RunState::Virtual;
    }
    w.apps.by_name.insert(name.to_string(), app);
    NewApp { client_id, secret }
}
