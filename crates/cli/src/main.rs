//! festival: the terminal client.
fn main() {}
