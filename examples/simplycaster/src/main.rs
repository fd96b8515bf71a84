//! `simplycaster demo | serve | simulate`: see `simplycaster --help`.

fn main() -> std::process::ExitCode {
    simplycaster::cli::main()
}
