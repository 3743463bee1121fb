//! `ticks N [K] [SEED]`: writes N stock ticks over K symbols (default
//! 100) as NDJSON on standard output, deterministically for a SEED
//! (default 1):
//!
//! ```text
//! {"type":"Tick","symbol":"S17","price":101.25,"at":1700000000000}
//! ```

use std::io::{BufWriter, Write};
use std::process::ExitCode;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: Option<T>) -> Result<T, String> {
    match args.get(i) {
        Some(a) => a.parse().map_err(|_| format!("not a number: {a:?}")),
        None => default.ok_or_else(|| "usage: ticks N [K] [SEED]".to_string()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| -> Result<(u64, usize, u64), String> {
        Ok((
            arg(&args, 0, None)?,
            arg(&args, 1, Some(100))?,
            arg(&args, 2, Some(1))?,
        ))
    })();
    let (n, k, seed) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ticks: {e}");
            return ExitCode::from(2);
        }
    };
    let stdout = std::io::stdout();
    let mut w = BufWriter::with_capacity(1 << 16, stdout.lock());
    match cep_benches::ticks::write_ticks(n, k, seed, &mut w).and_then(|()| w.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ticks: {e}");
            ExitCode::FAILURE
        }
    }
}
