//! One module per subcommand.

pub(crate) mod chat;
pub(crate) mod history;
pub(crate) mod send;
pub(crate) mod sync;
pub(crate) mod tail;
