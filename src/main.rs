//! The `cep` binary: see [`cep::run`] for the commands and exit codes.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(cep::run(std::env::args_os()))
}
