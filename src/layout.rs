//! The layout's rule for pure cores (docs/ARCHITECTURE.md, "Rules the
//! layout keeps"), checked on the source: they import no I/O module, no
//! tokio, and read no clock (time is an argument). Their tests may.

use std::path::{Path, PathBuf};

/// The pure cores, files or folders under src/.
const PURE: [&str; 14] = [
    "bgp/msg",
    "bgp/fsm",
    "rib/mod.rs",
    "rib/decision.rs",
    "rib/out.rs",
    "rib/table.rs",
    "rib/view.rs",
    "fib/reconcile.rs",
    "peers/table.rs",
    "links/convert.rs",
    "links/state.rs",
    "links/sync.rs",
    "nd/packet.rs",
    "nd/speaker.rs",
];

/// What a pure core must not name outside its tests: the I/O modules
/// (as imported from the crate or a sibling), tokio, and clocks.
const FORBIDDEN: [&str; 16] = [
    "tokio",
    "socket::",
    "watch::",
    "service::",
    "task::",
    "actor::",
    "session::",
    "manager::",
    "transport::",
    "conn::",
    "control::",
    "systemd::",
    "netlink_sys",
    "rtnetlink",
    "Instant::now",
    "SystemTime::now",
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .expect("source folder")
            .map(|e| e.expect("folder entry").path())
            .collect();
        entries.sort();
        for entry in entries {
            rust_files(&entry, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The code of `source` outside its test module and comments.
fn code_outside_tests(source: &str) -> String {
    let end = source.find("#[cfg(test)]\nmod tests {").unwrap_or(source.len());
    source[..end]
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn pure_cores_import_no_io_and_read_no_clock() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for pure in PURE {
        rust_files(&src.join(pure), &mut files);
    }
    let mut found = Vec::new();
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with("tests.rs") || name == "test_util.rs" {
            continue;
        }
        let code = code_outside_tests(&std::fs::read_to_string(file).expect("source file"));
        for word in FORBIDDEN.iter().filter(|w| code.contains(*w)) {
            found.push(format!("{}: {word}", file.strip_prefix(&src).unwrap_or(file).display()));
        }
    }
    assert!(files.len() > 20, "only {} files checked", files.len());
    assert_eq!(found, Vec::<String>::new());
}
