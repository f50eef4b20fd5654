//! The `ward` binary: `ward server …` runs the gateway; every other subcommand is the user CLI.

mod cli;
mod server_cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ward",
    version,
    about = "Identity gateway for developer platforms"
)]
struct Args {
    #[command(flatten)]
    global: cli::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the ward gateway server.
    Server(server_cmd::ServerArgs),
    #[command(flatten)]
    User(cli::UserCommand),
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match args.command {
        Command::Server(server) => server_cmd::main(server),
        Command::User(command) => cli::main(args.global, command),
    }
}
