//! The `latchkey` command: parses the command line and hands over to [`latchkey::cli`].

fn main() -> std::process::ExitCode {
    latchkey::cli::main()
}
