//! App names as Databricks Apps accepts them: 2 to 30 characters, lowercase letters, digits
//! and hyphens, not starting or ending with a hyphen. Checked before any request is made.

/// The name used when none is given.
pub const DEFAULT_NAME: &str = "kiln";

/// The rule, as told to a user whose name breaks it.
pub const RULE: &str = "an app name is 2 to 30 characters of lowercase letters (a-z), digits \
     and hyphens, and does not start or end with a hyphen (e.g. kiln or my-kiln-2)";

/// Checks `name` against [`RULE`].
pub fn check(name: &str) -> Result<(), String> {
    let ok = (2..=30).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid app name {name:?}: {RULE}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["kiln", "my-kiln-2", "ab", "a".repeat(30).as_str()] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        for bad in [
            "", "k", "Kiln", "my_kiln", "-kiln", "kiln-", "kiln.app", "a b",
        ] {
            let e = check(bad).unwrap_err();
            assert!(e.contains("lowercase letters"), "{e}");
        }
        assert!(check(&"a".repeat(31)).is_err());
    }
}
