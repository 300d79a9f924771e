//! altus4: secure full-text search over your own MySQL/MariaDB databases.
//!
//! `main` parses the command line, loads the configuration once, and hands over to the command.
//! See ARCHITECTURE.md for the map of the code.

mod app;
mod auth;
mod cli;
mod config;
mod crypto;
mod engine;
mod error;
mod http;
mod secrets;
mod store;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = <cli::Cli as clap::Parser>::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("altus4: {message}");
            ExitCode::FAILURE
        }
    }
}
