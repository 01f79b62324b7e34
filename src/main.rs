//! The `messages` binary: parses the command line, runs one command, and is the only place
//! that prints an error and picks the exit code (0 success, 1 failure, 2 usage error).

use std::process::ExitCode;

use clap::Parser;
use messages::cli::{Cli, Command, PinAction};
use messages::commands;
use messages::config::ServeConfig;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let data = match commands::Data::new(&cli.data_dir, cli.database.as_deref()) {
        Ok(data) => data,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let data_dir = &data;
    let outcome = match cli.command {
        Command::Serve(args) => match ServeConfig::try_from_args(*args, cli.data_dir.clone()) {
            Ok(config) => commands::serve::run(config, data.location.clone()),
            Err(usage) => {
                eprintln!("error: {usage}");
                return ExitCode::from(2);
            }
        },
        Command::Dump { output } => commands::data::dump(data_dir, &output),
        Command::Verify { file } => commands::data::verify(&file),
        Command::Restore {
            input,
            force,
            key_file,
        } => commands::data::restore(data_dir, &input, force, key_file.as_deref()),
        Command::Demo { messages } => commands::admin::demo(data_dir, messages),
        Command::Pin {
            action: PinAction::Set,
        } => commands::admin::pin_set(data_dir),
        Command::User { action } => commands::admin::user(data_dir, action),
        Command::Deleted { user, since } => {
            commands::admin::deleted(data_dir, user.as_deref(), since.as_deref())
        }
        Command::Audit { since } => commands::admin::audit(data_dir, since.as_deref()),
        Command::RotateKey => commands::rotate::run(data_dir),
        Command::Health { listen } => commands::health(&listen),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
