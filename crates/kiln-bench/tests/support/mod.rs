//! What kiln-bench's integration tests share: the bench binary, checked to have the `kiln` it
//! drives beside it.

/// The bench binary under test; panics with what to do when the `kiln` binary beside it (the
/// same target dir) has not been built.
pub fn bench() -> &'static str {
    let bench = env!("CARGO_BIN_EXE_kiln-bench");
    let kiln = std::path::Path::new(bench).with_file_name("kiln");
    assert!(
        kiln.is_file(),
        "{} is missing: build it first (cargo build -p kiln; scripts/test builds every binary)",
        kiln.display()
    );
    bench
}
