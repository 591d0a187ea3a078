//! The `aisle` command line: the daemon (`run`) and the tools installers and support use.
//! Each command lives in `cli/`; this file only starts it and exits with its status.

mod cli;

fn main() {
    aisle::heap::limit_fragmentation();
    std::process::exit(cli::main());
}
