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

// `ward server …` parsed on its own, so its help and errors list only the server's flags (the
// user commands' global flags such as --profile do not apply to it).
#[derive(Parser)]
#[command(
    name = "ward server",
    bin_name = "ward server",
    version,
    about = "Run the ward gateway server."
)]
struct ServerCli {
    #[command(flatten)]
    args: server_cmd::ServerArgs,
}

fn main() -> std::process::ExitCode {
    let mut argv = std::env::args_os();
    let program = argv.next().unwrap_or_else(|| "ward".into());
    let rest: Vec<std::ffi::OsString> = argv.collect();
    if rest.first().is_some_and(|a| a == "server") {
        let server =
            ServerCli::parse_from(std::iter::once(program).chain(rest.into_iter().skip(1)));
        return server_cmd::main(server.args);
    }
    let args = Args::parse();
    match args.command {
        Command::Server(server) => server_cmd::main(server),
        Command::User(command) => cli::main(args.global, command),
    }
}
