//! Build script placeholder: the UI bundle step lands with the web UI.
fn main() {}
