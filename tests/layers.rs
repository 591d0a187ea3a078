//! The import directions written in ARCHITECTURE.md ("Imports point down") hold in the code:
//! every `crate::…` path in the library's non-test code names a module on a lower layer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Module → layer (0 lowest), from the ```layers block of ARCHITECTURE.md.
fn layers() -> HashMap<String, usize> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let block = text
        .split("```layers")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("ARCHITECTURE.md has a ```layers block");
    let mut map = HashMap::new();
    for (layer, line) in block.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        for module in line.split_whitespace() {
            assert!(
                map.insert(module.to_string(), layer).is_none(),
                "{module} is listed twice"
            );
        }
    }
    map
}

/// The code of a file without comments and without its test module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a piece of code names through `crate::`.
fn imported(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            out.extend(group.split(',').filter_map(|item| {
                let name = item.trim().split("::").next()?.trim();
                (!name.is_empty()).then(|| name.to_string())
            }));
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_import_points_down_a_layer() {
    let layers = layers();
    let src = root().join("agent/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel.iter().next().unwrap().to_string_lossy();
        let module = top.trim_end_matches(".rs").to_string();
        if ["lib", "main", "cli"].contains(&module.as_str()) {
            continue;
        }
        let Some(&own) = layers.get(&module) else {
            wrong.push(format!(
                "{module} ({}) has no line in the layers block",
                rel.display()
            ));
            continue;
        };
        for target in imported(&code(&file)) {
            if target == module {
                continue;
            }
            checked += 1;
            match layers.get(&target) {
                Some(&layer) if layer < own => {}
                Some(_) => wrong.push(format!(
                    "{} imports {target}, which is not below {module}",
                    rel.display()
                )),
                None => wrong.push(format!(
                    "{} imports {target}, which has no line in the layers block",
                    rel.display()
                )),
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} imports found: is the parser broken?"
    );
    assert!(
        wrong.is_empty(),
        "imports pointing up or sideways:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_library_module_is_placed() {
    let layers = layers();
    let lib = std::fs::read_to_string(root().join("agent/src/lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';'))
        .collect();
    assert!(declared.len() > 10);
    for m in &declared {
        assert!(
            layers.contains_key(*m),
            "{m} is not in ARCHITECTURE.md's layers block"
        );
    }
    for m in layers.keys() {
        assert!(
            declared.contains(&m.as_str()),
            "{m} is in the layers block but not in lib.rs"
        );
    }
}

#[test]
fn the_parser_sees_grouped_and_nested_paths() {
    let found = imported("use crate::{a::B, c};\nlet x = crate::d::e();\n");
    assert_eq!(found, ["a", "c", "d"]);
}
