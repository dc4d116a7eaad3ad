//! The data of app permissions: the levels (`CAN_USE`, `CAN_MANAGE`), who a grant is for, and
//! a grant (a leaf: the app record holds grants, the Permissions API routes in `permissions`
//! read and change them).

/// A permission level on an app, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Open the app.
    CanUse,
    /// Change, deploy, stop, delete, grant.
    CanManage,
}

impl Level {
    /// The API name (`CAN_USE`, `CAN_MANAGE`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CanUse => "CAN_USE",
            Self::CanManage => "CAN_MANAGE",
        }
    }

    /// The level an API name names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "CAN_USE" => Some(Self::CanUse),
            "CAN_MANAGE" => Some(Self::CanManage),
            _ => None,
        }
    }
}

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    /// A user, by email.
    User(String),
    /// A service principal, by application id.
    ServicePrincipal(String),
    /// `users` (everyone) or `admins`.
    Group(String),
}

/// One direct permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Who.
    pub grantee: Grantee,
    /// What.
    pub level: Level,
}
