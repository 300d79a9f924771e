//! The `altus4` binary. `main` parses the command line, loads the configuration once, and hands over to the command.
//! See ARCHITECTURE.md for the map of the code.

use std::process::ExitCode;

use altus4::cli;

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
