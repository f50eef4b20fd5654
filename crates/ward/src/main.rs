//! The `ward` binary: `ward server …` runs the gateway; every other subcommand is the user CLI.

mod cli;
mod server_cmd;

/// mimalloc instead of the system allocator: a proxied request allocates and frees dozens of
/// small buffers across threads, where glibc's allocator spent about a tenth of ward's CPU
/// (decision 163).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

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
    let mut rest: Vec<std::ffi::OsString> = argv.collect();
    // Called through a link named as docker or git look helpers up (`docker-credential-ward`,
    // `git-credential-ward`): the helper, with the operation they pass.
    if let Some(helper) = helper_for(&program) {
        rest.splice(0..0, ["credential".into(), helper.into()]);
    }
    if rest.first().is_some_and(|a| a == "server") {
        let server: ServerCli = parse(
            cli::examples::with_examples(ServerCli::command(), "server"),
            std::iter::once(program).chain(rest.into_iter().skip(1)),
        );
        return server_cmd::main(server.args);
    }
    let command = if wants_help(&rest) {
        cli::examples::with_examples(Args::command(), "")
    } else {
        Args::command()
    };
    let args: Args = parse(command, std::iter::once(program).chain(rest));
    match args.command {
        Command::Server(server) => server_cmd::main(server),
        Command::User(command) => cli::main(args.global, command),
    }
}

/// Whether help will be printed, so the examples are worth attaching: they appear only there,
/// and walking the command tree to attach them is wasted work for a credential helper, which
/// kubectl runs before every command.
fn wants_help(args: &[std::ffi::OsString]) -> bool {
    args.iter()
        .any(|a| a == "--help" || a == "-h" || a == "help")
}

/// `docker` for a program named `docker-credential-ward`, `git` for `git-credential-ward`.
fn helper_for(program: &std::ffi::OsStr) -> Option<&'static str> {
    let name = std::path::Path::new(program).file_stem()?.to_str()?;
    match name {
        "docker-credential-ward" => Some("docker"),
        "git-credential-ward" => Some("git"),
        _ => None,
    }
}

/// Parses `argv` with `command` (the derived one plus its examples), exiting as clap does on
/// `--help`, `--version` or a usage error.
fn parse<T: FromArgMatches>(
    command: clap::Command,
    argv: impl IntoIterator<Item = std::ffi::OsString>,
) -> T {
    let mut matches = command.get_matches_from(argv);
    T::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every example that is a plain `ward …` line parses with the real command tree.
    #[test]
    fn examples_parse() {
        for (path, lines) in cli::examples::EXAMPLES {
            for line in *lines {
                if !line.starts_with("ward ") || line.contains(['"', '\'', '|', '$']) {
                    continue;
                }
                let argv: Vec<&str> = line.split_whitespace().collect();
                let parsed = if argv.get(1) == Some(&"server") {
                    ServerCli::command()
                        .try_get_matches_from(argv.iter().skip(1))
                        .map(|_| ())
                } else {
                    Args::command().try_get_matches_from(&argv).map(|_| ())
                };
                assert!(parsed.is_ok(), "{path}: {line}: {parsed:?}");
            }
        }
    }
}
