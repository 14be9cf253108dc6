//! The layout's rules (docs/ARCHITECTURE.md, "Rules the layout keeps"),
//! checked on the source without root: the top-level modules under src/
//! form no cycle, and the pure cores import no I/O module, no tokio, and
//! read no clock (time is an argument). Their tests may.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The pure cores, files or folders under src/.
const PURE: [&str; 27] = [
    "msg",
    "policy",
    "bgp/auth.rs",
    "bgp/fsm",
    "bfd/packet.rs",
    "bfd/session.rs",
    "rib/mod.rs",
    "rib/decision.rs",
    "rib/out.rs",
    "rib/own.rs",
    "rib/table.rs",
    "rib/stale.rs",
    "rib/view.rs",
    "fib/reconcile.rs",
    "fib/nexthop.rs",
    "fib/nexthop_msg.rs",
    "peers/table.rs",
    "links/convert.rs",
    "links/state.rs",
    "links/sync.rs",
    "nd/packet.rs",
    "nd/speaker.rs",
    "nd/probe.rs",
    "nd/echo.rs",
    "nd/log_limit.rs",
    "metrics/render.rs",
    "metrics/http.rs",
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

/// The top-level module a file under src/ belongs to ("bgp" for
/// src/bgp/session.rs, "router_id" for src/router_id.rs); None for the
/// binaries, which use everything.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "main" | "bin" | "lib")).then(|| name.to_string())
}

/// Top-level module -> the top-level modules its code (tests left out)
/// names as `crate::X`.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(from) = top_module(src, file) else { continue };
        if name.ends_with("tests.rs") || name == "test_util.rs" || name == "testkit.rs" {
            continue;
        }
        let code = code_outside_tests(&std::fs::read_to_string(file).expect("source file"));
        let uses = graph.entry(from.clone()).or_default();
        for (at, _) in code.match_indices("crate::") {
            let to: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !to.is_empty() && to != from {
                uses.insert(to);
            }
        }
    }
    graph
}

/// A cycle through `start`, as the modules on it, if there is one.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == start {
                return Some([path.clone(), vec![start.to_string()]].concat());
            }
            if seen.insert(next.clone()) {
                stack.push((next.clone(), [path.clone(), vec![next.clone()]].concat()));
            }
        }
    }
    None
}

#[test]
fn top_level_modules_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = module_graph(&src);
    assert!(graph.len() > 15, "only {} modules found: {graph:?}", graph.len());
    // The data flow, as the graph must see it.
    for (from, to) in [
        ("bgp", "rib"),
        ("rib", "fib"),
        ("rib", "msg"),
        ("bgp", "msg"),
        ("peers", "iface"),
    ] {
        assert!(graph[from].contains(to), "{from} does not use {to}: {graph:?}");
    }
    let cycles: Vec<Vec<String>> = graph.keys().filter_map(|m| cycle_through(&graph, m)).collect();
    assert_eq!(cycles, Vec::<Vec<String>>::new(), "module cycles");
}

#[test]
fn a_cycle_is_found() {
    let graph = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
        ("d".to_string(), BTreeSet::from(["a".to_string()])),
    ]);
    assert_eq!(
        cycle_through(&graph, "a"),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(cycle_through(&graph, "d"), None);
}
