//! `kiln app`: packaging (`package`), deploying and status against kiln-emulator (`deploy`).

mod deploy;
pub mod fixture;
mod package;

/// The release binary `scripts/test` builds for the glibc floor (`KILN_RELEASE_BIN`). Without it
/// a test says so on stderr and is skipped, except in CI (`CI` set), where that fails.
pub fn release_bin() -> Option<std::path::PathBuf> {
    match std::env::var_os("KILN_RELEASE_BIN") {
        Some(p) => Some(p.into()),
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "KILN_RELEASE_BIN must be set in CI (scripts/test builds it with ./scripts/build-release)"
            );
            eprintln!(
                "SKIPPED: KILN_RELEASE_BIN is not set; run ./scripts/build-release and set it to its output"
            );
            None
        }
    }
}
