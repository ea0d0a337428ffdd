//! One module per top-level verb of the `weir` command.

pub mod server;
