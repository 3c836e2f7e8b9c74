//! The Festival Chat relay server.
