//! The subcommands, one module each: every module owns its arguments (a clap `Args` struct
//! or `Subcommand` enum) and its `run`; [`crate::cli`] composes them into the command tree.

pub mod apikey;
pub mod app;
pub mod campaign;
pub mod channel;
pub mod migrate;
pub mod openapi;
pub mod serve;
pub mod simulator;
pub mod tenant;
