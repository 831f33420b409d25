use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    let args = <cli::Cli as clap::Parser>::parse();
    cli::init_logging(&args.global);
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            // One line with the whole chain: "sealing x.qcow2: opening ...: No such file".
            eprintln!("cloudseal: error: {err:#}");
            ExitCode::from(1)
        }
    }
}
