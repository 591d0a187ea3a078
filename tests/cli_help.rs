//! Every command and argument of the real binary explains itself in `--help`.

mod common;

use common::*;

const COMMANDS: &[&str] = &[
    "",
    "detect",
    "check-config",
    "run",
    "outbox stats",
    "outbox dump",
    "replay",
    "snapshot",
    "ui",
    "simulate",
    "eval",
    "eval detect",
    "model keygen",
    "model pack",
    "model cosign",
    "model verify",
    "model publish",
    "model install",
    "shelf calibrate",
    "shelf eval",
    "events-schema",
    "completions",
    "man",
];

/// The arguments in one help text that have no description of their own (a bare `[default: …]`
/// is not one). Handles both of clap's layouts: the description beside the argument, or on the
/// next, deeper-indented line.
fn undescribed(help: &str) -> Vec<String> {
    let lines: Vec<&str> = help.lines().collect();
    let mut missing = Vec::new();
    let mut in_list = false;
    for (i, line) in lines.iter().enumerate() {
        if ["Arguments:", "Options:", "Commands:"].contains(&line.trim_end()) {
            in_list = true;
            continue;
        }
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if !in_list || !(2..=6).contains(&indent) || trimmed.is_empty() {
            continue;
        }
        let (name, beside) = match trimmed.find("  ") {
            Some(at) => (&trimmed[..at], trimmed[at..].trim()),
            None => (trimmed.trim_end(), ""),
        };
        let below = lines
            .get(i + 1)
            .filter(|next| next.len() - next.trim_start().len() > 6)
            .map_or("", |next| next.trim());
        let text = if beside.is_empty() { below } else { beside };
        if text.is_empty() || text.starts_with("[default") || text.starts_with("[possible") {
            missing.push(name.to_string());
        }
    }
    missing
}

#[test]
fn every_command_and_argument_has_help() {
    let mut missing = Vec::new();
    for command in COMMANDS {
        let o = aisle()
            .args(command.split_whitespace())
            .arg("--help")
            .output()
            .expect("run aisle --help");
        assert!(o.status.success(), "{command}: {}", stderr(&o));
        for arg in undescribed(&stdout(&o)) {
            missing.push(format!("aisle {command}: {arg}"));
        }
    }
    assert!(
        missing.is_empty(),
        "arguments without help:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_help_check_sees_a_bare_argument() {
    let help = "Usage: x\n\nOptions:\n      --out <OUT>      \n      --a <A>  [default: 1]\n      --b <B>\n          Said below\n  -h, --help  Print help\n";
    assert_eq!(undescribed(help), vec!["--out <OUT>", "--a <A>"]);
}
