//! The Festival Chat client engine.
