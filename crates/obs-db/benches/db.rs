//! obs-db benchmarks (written in a later step).
fn main() {}
