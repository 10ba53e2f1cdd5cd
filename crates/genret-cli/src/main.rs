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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
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
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
