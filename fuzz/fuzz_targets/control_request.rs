//! A control-socket request line from any local client, through the
//! server's own parser. Nothing may panic; a request that parses must
//! serialize to a line that parses back to the same request.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ndbgp::control::server::parse_request;

fuzz_target!(|data: &[u8]| {
    // The server reads lines as UTF-8: other bytes end the connection
    // before any parsing.
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    match parse_request(line) {
        Ok(request) => {
            let again = serde_json::to_string(&request).expect("a request serializes");
            assert_eq!(parse_request(&again), Ok(request));
        }
        Err(e) => assert!(!e.is_empty()),
    }
});
