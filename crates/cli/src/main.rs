//! `openbsp`: the gateway, its simulator, and the admin commands, in one binary.

mod admin;
mod cli;
mod commands;
mod sandbox;
mod settings;
mod signals;

use clap::Parser;

/// mimalloc: the gateway allocates on request threads and frees on the store's writer thread,
/// a pattern glibc's allocator handles poorly (a fifth of the CPU time under load).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
