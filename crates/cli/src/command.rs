//! One module per subcommand.

pub(crate) mod chat;
pub(crate) mod send;
pub(crate) mod tail;
