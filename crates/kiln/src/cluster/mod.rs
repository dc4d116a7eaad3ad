//! `kiln cluster`: coding agents on a Databricks cluster. The init script (`script`, rendered
//! from `init.sh.tmpl`) installs kiln, Node.js and the pinned agents on the driver and starts
//! `kiln cluster gateway` (`gateway`), which holds the cluster's token and decides who may use it
//! (`access`); `kiln cluster configure-user` (`user`) points one user's agents at it, from the
//! shared description `<root>/etc/kiln/cluster.json` (`info`). `bundle` writes the Asset
//! Bundle and resolves its targets; `deploy` does natively what `databricks bundle deploy` does
//! with it, and `kiln cluster status`. The command line is `cli`.

pub mod access;
pub mod bundle;
pub mod cli;
pub mod deploy;
pub mod gateway;
pub mod info;
pub mod script;
pub mod user;

/// The gateway's port on the driver's loopback.
pub const DEFAULT_GATEWAY_PORT: u16 = 8790;
/// Environment variable holding the workspace URL on the cluster (spark_env_vars).
pub const HOST_ENV: &str = "KILN_DATABRICKS_HOST";
/// Environment variable holding the token on the cluster (a secret reference in spark_env_vars).
pub const TOKEN_ENV: &str = "KILN_DATABRICKS_TOKEN";
/// Environment variable holding the cluster's access mode (spark_env_vars).
pub const ACCESS_MODE_ENV: &str = "KILN_CLUSTER_ACCESS_MODE";
/// Environment variable naming the directory that holds the kiln binary (spark_env_vars).
pub const SOURCE_ENV: &str = "KILN_CLUSTER_SOURCE";
