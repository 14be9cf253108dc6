//! A `--config` file's text through the path `--check-config` takes
//! (TOML, then clap's value parsers, then validation). Nothing may panic;
//! an error is one line, as the daemon logs it; a valid file gives a
//! one-line summary.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ndbgp::config::{Parsed, parse_reading};

fuzz_target!(|data: &[u8]| {
    let args = ["ndbgpd", "--check-config", "--config", "fuzz.toml"];
    // Bytes that are not UTF-8 fail as reading the file would.
    let read = |_: &std::path::Path| {
        std::str::from_utf8(data)
            .map(str::to_owned)
            .map_err(std::io::Error::other)
    };
    match parse_reading(args, read) {
        Ok(Parsed::Check(config)) => {
            let summary = config.summary();
            assert!(!summary.contains('\n'), "summary on more than one line: {summary}");
        }
        Ok(other) => panic!("--check-config gave {other:?}"),
        Err(e) => assert!(!e.0.contains('\n'), "error on more than one line: {}", e.0),
    }
});
