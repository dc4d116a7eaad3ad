//! `kiln-emulator`: run the emulated workspace on loopback.
fn main() {}
