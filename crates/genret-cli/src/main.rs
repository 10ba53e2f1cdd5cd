//! `genret`: generative retrieval with learned document identifiers, from the command line.
//!
//! A thin layer: each subcommand parses its arguments and calls the library crates.

use clap::{Parser, Subcommand};

mod commands;

#[derive(Parser)]
#[command(name = "genret", version, about = "Generative retrieval with learned docids (GenRet, NeurIPS 2023)", long_about = None)]
struct Cli {
    /// Log level filter (also read from RUST_LOG), e.g. `info`, `debug`, `genret=debug`.
    #[arg(long, global = true, default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Quickstart(commands::quickstart::Args),
    Eval(commands::eval::Args),
    Bm25(commands::bm25::Args),
    Search(commands::search::Args),
    Index(commands::index::Args),
    Run(commands::run::Args),
    Diagnose(commands::diagnose::Args),
    Train(commands::train::Args),
    Dense(commands::dense::Args),
    Embed(commands::embed::Args),
    Serve(commands::serve::Args),
    Report(commands::report::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let result = match cli.command {
        Command::Quickstart(args) => commands::quickstart::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Bm25(args) => commands::bm25::run(args),
        Command::Search(args) => commands::search::run(args),
        Command::Index(args) => commands::index::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Diagnose(args) => commands::diagnose::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Dense(args) => commands::dense::run(args),
        Command::Embed(args) => commands::embed::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Report(args) => commands::report::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_message(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes as one sentence, `a: b: c`, leaving out a cause that the message
/// before it already ends with (typed errors print their source inside their own message, so
/// the chain would say it twice: "disk image is malformed: disk image is malformed").
fn error_message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::error_message;

    /// Every argument of every command and subcommand says what it is for.
    #[test]
    fn every_argument_of_every_command_has_help() {
        fn walk(cmd: &clap::Command, path: &str) {
            for arg in cmd.get_arguments() {
                assert!(
                    arg.get_help().is_some(),
                    "{path} --{} has no help",
                    arg.get_id()
                );
            }
            for sub in cmd.get_subcommands() {
                assert!(
                    sub.get_about().is_some(),
                    "{path} {} has no description",
                    sub.get_name()
                );
                walk(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        use clap::CommandFactory;
        let cmd = super::Cli::command();
        cmd.clone().debug_assert();
        walk(&cmd, "genret");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Wrapped {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn a_cause_is_printed_once() {
        let io = std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "No such file or directory (os error 2)",
        );
        let e = anyhow::Error::new(Wrapped {
            path: "a.jsonl".into(),
            source: io,
        })
        .context("reading the corpus");
        assert_eq!(
            error_message(&e),
            "reading the corpus: a.jsonl: No such file or directory (os error 2)"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_message(&plain), "outer: inner");
    }
}
