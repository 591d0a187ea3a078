//! Every parser of input from outside the agent, fuzzed: config TOML and its environment
//! overrides, model manifests, signed update manifests and their signatures, the MQTT update
//! offer, the ONNX protobuf walker, MOT files and ground-truth JSON. Nothing may panic.
//!
//! cargo-fuzz needs a nightly compiler this project does not have, so this is a mutation fuzzer
//! of its own on the stable toolchain: it starts from the committed seeds (the repository's real
//! configs, manifests and models, and `tests/fuzz/corpus/`), mutates them with a fixed-seed
//! generator (bit flips, byte and token insertions, deletions, splices between seeds, numbers
//! swapped for edge values) and calls the same functions the agent calls, for
//! `AISLE_FUZZ_SECONDS` per target (3 by default; `scripts/test.sh` gives each 30). An input
//! that panics is written to `target/fuzz-crashes/` and fails the test; once fixed it joins the
//! corpus as a regression seed.

mod common;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use aisle::config::Config;
use aisle::detect::manifest::Manifest;
use aisle::ota::manifest::Targets;
use aisle::ota::offer::Offer;
use aisle::ota::verify::{Context, Trust};
use aisle::ota::{bundle, onnx, verify};
use aisle::sim::truth::Truth;
use common::*;

fn budget() -> Duration {
    let s = std::env::var("AISLE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(3.0);
    Duration::from_secs_f64(s)
}

/// Bytes that change what a parser sees: delimiters, escapes, signs, huge and odd numbers.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"'",
    b"[",
    b"]",
    b"{",
    b"}",
    b"=",
    b",",
    b"\n",
    b"\r\n",
    b"\\",
    b"\\u",
    b"#",
    b".",
    b"[[",
    b"]]",
    b"-1",
    b"0",
    b"1e309",
    b"-1e309",
    b"nan",
    b"inf",
    b"NaN",
    b"4294967296",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"99999999999999999999",
    b"0x",
    b"true",
    b"null",
    b"\0",
    b"\xff\xfe",
    b"\xe2\x80",
    b"\t",
    b"      ",
    b"::",
    b"//",
    b"${",
    b"%s",
];

/// One mutation of `seed`, with `others` to splice from.
fn mutate(rng: &mut StdRng, seed: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let at = if v.is_empty() {
            0
        } else {
            rng.random_range(0..=v.len())
        };
        match rng.random_range(0..9) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] = rng.random();
            }
            2 => {
                let t = TOKENS[rng.random_range(0..TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            3 if !v.is_empty() => {
                let end = (at + rng.random_range(1..=64)).min(v.len());
                v.drain(at.min(end)..end);
            }
            4 if !v.is_empty() => {
                let from = rng.random_range(0..v.len());
                let len = rng.random_range(1..=64).min(v.len() - from);
                let chunk: Vec<u8> = v[from..from + len].to_vec();
                v.splice(at..at, chunk);
            }
            5 if !others.is_empty() => {
                let other = &others[rng.random_range(0..others.len())];
                if !other.is_empty() {
                    let from = rng.random_range(0..other.len());
                    let len = rng.random_range(1..=256).min(other.len() - from);
                    v.splice(at..at, other[from..from + len].iter().copied());
                }
            }
            6 => v.truncate(at),
            7 => {
                // A number in the text replaced by an edge value.
                if let Some(start) = (at..v.len()).find(|&i| v[i].is_ascii_digit()) {
                    let end = (start..v.len())
                        .find(|&i| !(v[i].is_ascii_digit() || v[i] == b'.'))
                        .unwrap_or(v.len());
                    let edge: &[u8] = [
                        &b"0"[..],
                        b"-0",
                        b"1e400",
                        b"340282366920938463463374607431768211456",
                        b"0.0000000000000000000001",
                        b"-5",
                    ][rng.random_range(0..6)];
                    v.splice(start..end, edge.iter().copied());
                }
            }
            _ => {
                let n = rng.random_range(1..=16);
                let junk: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                v.splice(at..at, junk);
            }
        }
    }
    v
}

/// Runs `target` on the seeds and on mutations of them for the budget; fails on the first input
/// that panics, keeping it in `target/fuzz-crashes/NAME-N`.
fn fuzz(name: &str, seeds: Vec<Vec<u8>>, mut target: impl FnMut(&[u8])) {
    assert!(!seeds.is_empty(), "{name}: no seeds");
    let crashes = root().join("target/fuzz-crashes");
    let mut rng = StdRng::seed_from_u64(0x61_6973_6c65);
    let started = Instant::now();
    let mut runs = 0u64;
    let mut check = |input: &[u8], runs: u64| {
        if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
            std::fs::create_dir_all(&crashes).unwrap();
            let path = crashes.join(format!("{name}-{runs}"));
            std::fs::write(&path, input).unwrap();
            panic!("{name}: input {} panicked", path.display());
        }
    };
    for s in &seeds {
        check(s, runs);
        runs += 1;
    }
    while started.elapsed() < budget() {
        let seed = &seeds[rng.random_range(0..seeds.len())];
        let input = mutate(&mut rng, seed, &seeds);
        check(&input, runs);
        runs += 1;
    }
    println!(
        "{name}: {runs} inputs in {:.1} s, no panic",
        started.elapsed().as_secs_f64()
    );
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p, ext));
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn read_all(paths: &[PathBuf]) -> Vec<Vec<u8>> {
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Inputs that once crashed a target (`tests/fuzz/corpus/regressions/TARGET-…`), run first.
fn regressions(target: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fuzz/corpus/regressions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{target}-")))
        })
        .collect();
    paths.sort();
    read_all(&paths)
}

fn text(input: &[u8]) -> String {
    String::from_utf8_lossy(input).into_owned()
}

#[test]
fn config_text_and_environment_overrides() {
    let mut seeds = read_all(&files(&root().join("firmware-config"), "toml"));
    seeds.push(b"AISLE_AGENT__SITE=s2\nAISLE_CAMERAS__0__URI=rtsp://x\nAISLE_CAMERAS__0__ZONES__0__POLYGON=[[0,0],[1,0],[1,1]]".to_vec());
    fuzz("config", seeds, |input| {
        // Lines shaped like KEY=VALUE are also tried as environment overrides.
        let t = text(input);
        let env: Vec<(String, String)> = t
            .lines()
            .filter_map(|l| l.split_once('='))
            .filter(|(k, _)| k.starts_with("AISLE_"))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for env in [&env[..], &[]] {
            if let Ok(cfg) = Config::parse(&t, env) {
                let _ = cfg.validate();
            }
        }
    });
}

#[test]
fn model_manifests() {
    let mut paths = files(&root().join("models"), "toml");
    paths.extend(files(&root().join("tests/fixtures"), "toml"));
    fuzz("manifest", read_all(&paths), |input| {
        if let Ok(m) = Manifest::parse(&text(input), Path::new("fuzz.toml")) {
            let _ = m.decode_params();
        }
    });
}

/// A signed update as `aisle model pack` makes it, for the device `gw` at site `s`.
fn update_seed() -> (String, String, Trust) {
    let (public, secret) = bundle::keygen().unwrap();
    let model = std::fs::read(root().join("tests/fixtures/gap-detector/fixed-gaps.onnx")).unwrap();
    let manifest =
        Manifest::load(&root().join("tests/fixtures/gap-detector/manifest.toml")).unwrap();
    let release = bundle::Release {
        slot: "person".into(),
        version: 7,
        expires_unix_s: 4_000_000_000,
        targets: Targets {
            devices: vec!["*".into()],
            sites: vec!["s".into()],
        },
        url: Some("https://127.0.0.1:1/m.onnx".into()),
        min_agent_version: "0.1.0".into(),
    };
    let text = toml::to_string(&bundle::manifest_for(&model, &manifest, release)).unwrap();
    let trust = Trust::new(&[bundle::public_key_line(&public).unwrap()], &[], 1).unwrap();
    (text, secret, trust)
}

fn context(floors: &BTreeMap<String, u64>) -> Context<'_> {
    Context {
        device: "gw",
        site: "s",
        agent_version: env!("CARGO_PKG_VERSION"),
        now_unix_s: 1_800_000_000,
        floors,
    }
}

#[test]
fn update_manifests_signed_and_checked() {
    let (manifest, secret, trust) = update_seed();
    let floors = BTreeMap::from([("person".to_string(), 3)]);
    let signature = bundle::sign(manifest.as_bytes(), &secret).unwrap();
    assert!(
        verify::verify_manifest(manifest.as_bytes(), &[signature], &trust, &context(&floors))
            .is_ok()
    );
    // Signed after mutation, so the fuzzer gets past the signature to the parser and policy.
    fuzz("update", vec![manifest.into_bytes()], |input| {
        let signature = bundle::sign(input, &secret).unwrap();
        let _ = verify::verify_manifest(input, &[signature], &trust, &context(&floors));
    });
}

#[test]
fn update_signatures() {
    let (manifest, secret, trust) = update_seed();
    let floors = BTreeMap::new();
    let signature = bundle::sign(manifest.as_bytes(), &secret).unwrap();
    let mut seeds = vec![signature.into_bytes()];
    seeds.extend(regressions("signature"));
    fuzz("signature", seeds, |input| {
        let sigs = [text(input), text(input).replace('\n', "\r\n")];
        let _ = verify::verify_manifest(manifest.as_bytes(), &sigs, &trust, &context(&floors));
    });
}

#[test]
fn update_offers_on_the_command_topic() {
    let (manifest, secret, trust) = update_seed();
    let floors = BTreeMap::new();
    let offer = Offer {
        signature: bundle::sign(manifest.as_bytes(), &secret).unwrap(),
        manifest,
        cosignatures: Vec::new(),
    };
    let mut seeds = vec![offer.to_json()];
    seeds.extend(regressions("offer"));
    fuzz("offer", seeds, |input| {
        if let Ok(o) = Offer::parse(input) {
            let _ = verify::verify_manifest(
                o.manifest.as_bytes(),
                &o.signatures(),
                &trust,
                &context(&floors),
            );
        }
    });
}

#[test]
fn onnx_models() {
    let paths = [
        root().join("tests/fixtures/gap-detector/fixed-gaps.onnx"),
        root().join("models/shelf/shelf-cell.onnx"),
    ];
    fuzz("onnx", read_all(&paths), |input| {
        let _ = onnx::inspect(input);
    });
}

#[test]
fn mot_files() {
    let corpus = root().join("tests/fuzz/corpus");
    let seeds = read_all(&[corpus.join("detections.txt"), corpus.join("tracks.txt")]);
    fuzz("mot", seeds, |input| {
        if let Ok(rows) = aisle::analytics::mot::parse(&text(input)) {
            for (_, frame) in aisle::analytics::mot::frames(&rows).take(10_000) {
                let _ = frame.len();
            }
        }
    });
}

#[test]
fn ground_truth_and_events_for_eval() {
    let corpus = root().join("tests/fuzz/corpus");
    let truth = std::fs::read(corpus.join("truth.json")).unwrap();
    let events = std::fs::read_to_string(corpus.join("events.jsonl")).unwrap();
    fuzz("truth", vec![truth.clone()], |input| {
        if let Ok(t) = serde_json::from_slice::<Truth>(input)
            && t.problems().is_empty()
        {
            let _ = aisle::eval::evaluate(&t, &events, aisle::eval::Thresholds::default());
        }
    });
    let truth: Truth = serde_json::from_slice(&truth).unwrap();
    fuzz("events", vec![events.clone().into_bytes()], |input| {
        let _ = aisle::eval::evaluate(&truth, &text(input), aisle::eval::Thresholds::default());
    });
}
