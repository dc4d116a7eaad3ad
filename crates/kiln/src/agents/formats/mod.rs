//! Merging kiln's settings into files agents and tools own, one module per format. Every merge
//! takes the current bytes (or none) and kiln's edits, and returns the new bytes, or `None` when
//! the file already says what kiln wants (so a second run changes no byte). Content kiln does not
//! manage — user keys, comments, unknown fields, ordering — is kept. A file kiln cannot parse is
//! never overwritten: the merge fails with a [`FormatError`] instead.

pub mod block;
pub mod dotenv;
pub mod json;
pub mod toml;
pub mod yaml;

/// Why a file could not be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The existing file does not parse; it was left untouched.
    #[error("cannot parse the existing file ({0}); it was left untouched")]
    Parse(String),
    /// A key kiln manages holds a different kind of value (e.g. a string where a table is needed).
    #[error("`{0}` has an unexpected type; the file was left untouched")]
    Shape(String),
    /// The file is not UTF-8 text.
    #[error("the existing file is not UTF-8 text; it was left untouched")]
    NotText,
}

/// The existing bytes as text; an absent file is empty.
pub(crate) fn text(existing: Option<&[u8]>) -> Result<&str, FormatError> {
    match existing {
        None => Ok(""),
        Some(b) => std::str::from_utf8(b).map_err(|_| FormatError::NotText),
    }
}
