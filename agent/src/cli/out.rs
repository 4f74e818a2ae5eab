//! What the CLI prints on standard output goes through `outln!`/`out!`: a reader that goes away
//! (`payflow-agent runs | head -1`) ends the command quietly with status 141 (128 + SIGPIPE,
//! what a shell shows for other Unix tools cut the same way), never a panic. Any other write
//! error says what failed and exits with 74 (EX_IOERR).

use std::io::Write;

/// The status of a command whose standard output was closed by its reader.
pub const CLOSED_STDOUT: i32 = 141;

/// Writes to standard output; on a closed pipe the process ends quietly (see the module).
pub fn write(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(CLOSED_STDOUT);
        }
        let _ = writeln!(std::io::stderr(), "error: cannot write to standard output: {e}");
        std::process::exit(74);
    }
}

/// `print!` that ends quietly on a closed standard output.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::out::write(format_args!($($arg)*)) };
}

/// `println!` that ends quietly on a closed standard output.
macro_rules! outln {
    () => { $crate::cli::out::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::out::write(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {out, outln};
