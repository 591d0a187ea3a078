//! From text and environment to a typed `Config`: `AISLE_<SECTION>__<KEY>` overrides applied to
//! the TOML document first, then deserialization that names the field of any type error.

use super::{Config, Problem};

const ENV_PREFIX: &str = "AISLE_";

/// TOML text with `AISLE_…` overrides applied, as a `Config`; syntax and type errors become
/// problems naming the field.
pub(super) fn parse(text: &str, env: &[(String, String)]) -> Result<Config, Vec<Problem>> {
    let mut doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| vec![syntax_problem(text, &e)])?;
    let mut problems = Vec::new();
    // Overrides whose value read as a TOML number, boolean or array: (field path, key, raw).
    let mut literals = Vec::new();
    for (key, value) in env {
        match apply_override(&mut doc, key, value, Literal::IfItParses) {
            Ok(Some(field)) => literals.push((field, key, value)),
            Ok(None) => {}
            Err(reason) => problems.push(Problem {
                field: key.clone(),
                reason,
            }),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    loop {
        let e = match serde_path_to_error::deserialize(toml::Value::Table(doc.clone())) {
            Ok(cfg) => return Ok(cfg),
            Err(e) => e,
        };
        let field = e.path().to_string();
        // `AISLE_AGENT__SITE=42` meant the string "42": a literal where the field wants
        // something else is taken as the string it was written as.
        if let Some(i) = literals.iter().position(|(f, ..)| *f == field) {
            let (_, key, raw) = literals.swap_remove(i);
            apply_override(&mut doc, key, raw, Literal::Never)
                .map_err(|reason| vec![Problem::new(key.as_str(), reason)])?;
            continue;
        }
        let field = if field == "." { "config".into() } else { field };
        return Err(vec![Problem::new(field, e.inner().message())]);
    }
}

/// `AISLE_<SECTION>__<KEY>`; other `AISLE_*` variables (such as `AISLE_LOG`) are not config.
pub(super) fn is_override(key: &str) -> bool {
    key.starts_with(ENV_PREFIX) && key.contains("__")
}

/// A TOML syntax error, located by line and column (1-based) as an editor shows them.
fn syntax_problem(text: &str, e: &toml::de::Error) -> Problem {
    let field = match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("toml line {line}, column {column}")
        }
        None => "toml".to_string(),
    };
    Problem::new(field, e.message().trim_end())
}

/// How an override's value is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Literal {
    /// As a TOML literal when it parses as one (numbers, booleans, arrays), else as a string.
    IfItParses,
    /// Always as a string.
    Never,
}

/// Sets `AISLE_A__B__0__C=v` as `a.b[0].c = v`. Returns the field path (`a.b[0].c`) when the
/// value was read as a literal other than a string, so a type error there can retry it as one.
fn apply_override(
    doc: &mut toml::Table,
    key: &str,
    raw: &str,
    literal: Literal,
) -> Result<Option<String>, String> {
    let path: Vec<String> = key[ENV_PREFIX.len()..]
        .split("__")
        .map(str::to_ascii_lowercase)
        .collect();
    if path.iter().any(String::is_empty) {
        return Err("expected AISLE_<SECTION>__<KEY>".into());
    }
    let parsed = (literal == Literal::IfItParses)
        .then(|| format!("v = {raw}").parse::<toml::Table>().ok())
        .flatten()
        .and_then(|mut t| t.remove("v"));
    let field = parsed
        .as_ref()
        .filter(|v| !v.is_str())
        .map(|_| field_path(&path));
    let value = parsed.unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut root = toml::Value::Table(std::mem::take(doc));
    let result = parents
        .iter()
        .try_fold(&mut root, |node, seg| step(node, seg))
        .and_then(|parent| match parent {
            toml::Value::Table(t) => {
                t.insert(last.clone(), value);
                Ok(())
            }
            array @ toml::Value::Array(_) => step(array, last).map(|slot| *slot = value),
            _ => Err(format!("cannot set {last:?} inside a plain value")),
        });
    if let toml::Value::Table(t) = root {
        *doc = t;
    }
    result.map(|()| field)
}

/// `["cameras", "0", "uri"]` as `cameras[0].uri`, the way type errors name fields.
fn field_path(segments: &[String]) -> String {
    let mut out = String::new();
    for seg in segments {
        if seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

fn step<'a>(node: &'a mut toml::Value, seg: &str) -> Result<&'a mut toml::Value, String> {
    match node {
        toml::Value::Table(t) => Ok(t
            .entry(seg.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))),
        toml::Value::Array(a) => {
            let len = a.len();
            let i: usize = seg
                .parse()
                .map_err(|_| format!("{seg:?} is not an array index"))?;
            a.get_mut(i)
                .ok_or(format!("index {i} is past the {len} configured item(s)"))
        }
        _ => Err(format!("cannot descend into {seg:?}: not a table")),
    }
}
