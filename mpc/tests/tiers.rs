//! The crate's tiers, pinned: core (comm, prg, provider, session, in-process parties; it knows
//! only shares) <- protocols (every protocol, on shares) <- the tensor tier (`Shared`,
//! `CrypTensor`, comparisons, the function library, the op contract). An import from a lower
//! tier to a higher one, or any import cycle between the crate's modules, fails here with the
//! offending file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The tier of each top-level module (directories count as one module).
const TIERS: &[(&str, u8)] = &[
    ("error", 0),
    ("fss", 0),
    ("prg", 0),
    ("comm", 0),
    ("provider", 0),
    ("session", 0),
    ("local", 0),
    ("protocols", 1),
    ("share", 0),
    ("sharing", 2),
    ("cryptensor", 2),
    ("contract", 2),
    ("bintensor", 2),
    ("compare", 2),
    ("random", 2),
    ("approx", 2),
];

/// Every `crate::module` a source file uses in code (comments and docs ignored), with the
/// line it appears on.
fn imports(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let tail = &rest[i + "crate::".len()..];
            let name: String = tail
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push((name, n + 1));
            }
            rest = tail;
        }
    }
    out
}

#[test]
fn modules_import_only_their_own_or_lower_tiers_and_never_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let tier: BTreeMap<&str, u8> = TIERS.iter().copied().collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![];
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            for sub in std::fs::read_dir(&path).unwrap() {
                files.push((path.file_name().unwrap().to_owned(), sub.unwrap().path()));
            }
        } else {
            files.push((path.file_stem().unwrap().to_owned(), path));
        }
    }
    for (module, path) in files {
        let module = module.to_string_lossy().to_string();
        if module == "lib" {
            continue;
        }
        let from = *tier
            .get(module.as_str())
            .unwrap_or_else(|| panic!("module {module} has no tier in TIERS"));
        let text = std::fs::read_to_string(&path).unwrap();
        for (to, line) in imports(&text) {
            if to == module || !tier.contains_key(to.as_str()) {
                continue;
            }
            assert!(
                tier[to.as_str()] <= from,
                "{}:{line}: {module} (tier {from}) imports {to} (tier {})",
                path.display(),
                tier[to.as_str()]
            );
            edges.entry(module.clone()).or_default().insert(to);
        }
    }
    // depth-first search for a cycle
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(i) = path.iter().position(|p| p == m) {
            panic!("import cycle: {} -> {m}", path[i..].join(" -> "));
        }
        path.push(m.to_string());
        for next in edges.get(m).into_iter().flatten() {
            visit(next, edges, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for (m, _) in TIERS {
        visit(m, &edges, &mut Vec::new(), &mut done);
    }
    assert!(edges.contains_key("cryptensor") && edges.contains_key("approx"));
}
