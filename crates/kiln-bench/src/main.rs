//! `kiln-bench`: measures kiln against a reference in the same run and prints ratios.
fn main() {}
