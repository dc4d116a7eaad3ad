//! Who may read and write which Workspace path: admins everything, a user their home
//! (`/Users/<me>`) and `/Shared`; everybody may read outside the homes. Used by the Workspace
//! routes and by the Apps routes (a deployment's source must be readable by the deployer).

use crate::principals::Caller;

/// Whether the caller may read `path` (normalised).
pub fn can_read(caller: &Caller, path: &str) -> bool {
    caller.admin
        || match home_owner(path) {
            Some(owner) => owner.eq_ignore_ascii_case(&caller.user_name),
            None => true,
        }
}

/// Whether the caller may create/modify/delete `path` (normalised).
pub fn can_write(caller: &Caller, path: &str) -> bool {
    if caller.admin {
        return true;
    }
    if path == "/Shared" || path.starts_with("/Shared/") {
        return true;
    }
    home_owner(path).is_some_and(|o| o.eq_ignore_ascii_case(&caller.user_name))
}

fn home_owner(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/Users/")?;
    Some(rest.split('/').next().unwrap_or(rest))
}
