//! The `sesame` binary: parse the command line, run it. Everything else is in the library.

fn main() -> std::process::ExitCode {
    sesame::cli::main()
}
