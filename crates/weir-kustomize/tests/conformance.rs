//! Runs every case of the kustomize conformance corpus (`$WEIR_SHARED/conformance/kustomize`, else
//! `../shared` beside the repository) plus weir's own cases in `tests/cases/` (test `conformance`),
//! and kustomize's own test suite as a corpus (`conformance/krusty`, test `krusty`).
//!
//! Success cases: weir's output and `expected.yaml` are parsed as YAML streams and must be equal, in
//! order, type-strict; byte identity is reported. Error cases must fail with a non-empty message.
//! Summary: N byte-identical success cases, M passing cases (semantically equal, or failing as
//! expected), K failed, of T.

use std::path::{Path, PathBuf};

use weir_kustomize::{BuildOptions, DiskFs, build};

fn shared_dir() -> PathBuf {
    std::env::var_os("WEIR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

fn corpus_dirs() -> Vec<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    vec![
        shared_dir().join("conformance/kustomize"),
        manifest.join("tests/cases"),
    ]
}

/// The cases (directories holding a `case.txt`) of these corpora, sorted.
fn cases_in(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut cases = Vec::new();
    for dir in dirs {
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()));
        for e in entries.flatten() {
            if e.path().join("case.txt").exists() {
                cases.push(e.path());
            }
        }
    }
    cases.sort();
    cases
}

fn case_name(case: &Path) -> String {
    case.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

enum Outcome {
    ByteIdentical,
    Semantic(String),
    ExpectedError,
    Failed(String),
}

fn run_case(case: &Path) -> Outcome {
    let Ok(spec) = std::fs::read_to_string(case.join("case.txt")) else {
        return Outcome::Failed("no case.txt".into());
    };
    let entry = spec.lines().next().unwrap_or("").trim();
    let dir = case.join(entry);
    let result = build(&DiskFs::new(), &dir, &BuildOptions::default());
    let expected_path = case.join("expected.yaml");
    if !expected_path.exists() {
        return match result {
            Err(e) if !e.to_string().is_empty() => Outcome::ExpectedError,
            Err(_) => Outcome::Failed("failed with an empty message".into()),
            Ok(objs) => Outcome::Failed(format!("expected an error, built {} objects", objs.len())),
        };
    }
    let objs = match result {
        Ok(o) => o,
        Err(e) => return Outcome::Failed(format!("build failed: {e}")),
    };
    let got = weir_yaml::to_string_multi(&objs);
    let want = std::fs::read_to_string(&expected_path).unwrap_or_default();
    if got == want {
        return Outcome::ByteIdentical;
    }
    let first_diff = got
        .lines()
        .zip(want.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| format!("line {}: got {a:?}, want {b:?}", i + 1))
        .unwrap_or_else(|| {
            format!(
                "lengths differ: got {} lines, want {}",
                got.lines().count(),
                want.lines().count()
            )
        });
    let parse = |s: &str| {
        weir_yaml::from_str(s).map(|docs| {
            docs.into_iter()
                .filter(|d| !d.is_null())
                .collect::<Vec<_>>()
        })
    };
    match (parse(&got), parse(&want)) {
        (Ok(a), Ok(b)) if a == b => Outcome::Semantic(first_diff),
        (Ok(a), Ok(b)) => {
            let which = a
                .iter()
                .zip(b.iter())
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            Outcome::Failed(format!(
                "objects differ (object #{}, {} vs {} objects); {first_diff}",
                which + 1,
                a.len(),
                b.len()
            ))
        }
        (Err(e), _) => Outcome::Failed(format!("weir's output does not parse: {e:?}")),
        (_, Err(e)) => Outcome::Failed(format!("expected.yaml does not parse: {e:?}")),
    }
}

#[test]
fn conformance() {
    let cases = cases_in(&corpus_dirs());
    assert!(!cases.is_empty(), "no conformance cases found");
    let (mut bytes, mut passed, mut failed) = (0, 0, 0);
    for case in &cases {
        let name = case_name(case);
        match run_case(case) {
            Outcome::ByteIdentical => {
                bytes += 1;
                passed += 1;
                println!("ok    {name} (byte-identical)");
            }
            Outcome::Semantic(diff) => {
                passed += 1;
                println!("ok    {name} (semantically equal; first byte difference: {diff})");
            }
            Outcome::ExpectedError => {
                passed += 1;
                println!("ok    {name} (failed as expected)");
            }
            Outcome::Failed(why) => {
                failed += 1;
                println!("FAIL  {name}: {why}");
            }
        }
    }
    println!(
        "conformance: {bytes} byte-identical, {passed} semantically equal, {failed} failed of {}",
        cases.len()
    );
    assert_eq!(failed, 0, "{failed} conformance case(s) failed");
}

/// The krusty cases known to fail, from `tests/krusty-known-failures.txt`: one `NAME: reason` a line,
/// `#` comments. The list can only shrink: a listed case that passes fails the test too.
fn known_failures() -> std::collections::BTreeMap<String, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/krusty-known-failures.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} unreadable: {e}", path.display()));
    let mut out = std::collections::BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, why) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("{}:{}: want `NAME: reason`", path.display(), i + 1));
        assert!(
            !why.trim().is_empty(),
            "{}:{}: {name} has no reason",
            path.display(),
            i + 1
        );
        let dup = out.insert(name.trim().to_string(), why.trim().to_string());
        assert!(
            dup.is_none(),
            "{}:{}: {name} listed twice",
            path.display(),
            i + 1
        );
    }
    out
}

#[test]
fn krusty() {
    let cases = cases_in(&[shared_dir().join("conformance/krusty")]);
    assert!(
        cases.len() >= 291,
        "krusty corpus incomplete: {} cases",
        cases.len()
    );
    let known = known_failures();
    let names: std::collections::BTreeSet<String> = cases.iter().map(|c| case_name(c)).collect();
    let stale: Vec<&String> = known.keys().filter(|k| !names.contains(*k)).collect();
    let (mut passed, mut bytes, mut unexpected, mut fixed) = (0, 0, Vec::new(), Vec::new());
    for case in &cases {
        let name = case_name(case);
        let listed = known.get(&name);
        let outcome = run_case(case);
        let how = match &outcome {
            Outcome::ByteIdentical => {
                bytes += 1;
                "byte-identical".to_string()
            }
            Outcome::Semantic(diff) => format!("semantically equal; first byte difference: {diff}"),
            Outcome::ExpectedError => "failed as expected".to_string(),
            Outcome::Failed(_) => String::new(),
        };
        match (outcome, listed) {
            (Outcome::Failed(why), Some(reason)) => {
                println!("known {name}: {reason} ({why})");
            }
            (Outcome::Failed(why), None) => {
                println!("FAIL  {name}: {why}");
                unexpected.push(name);
            }
            (_, Some(_)) => {
                println!("FIXED {name}: passes, remove it from krusty-known-failures.txt");
                fixed.push(name);
            }
            (_, None) => {
                passed += 1;
                println!("ok    {name} ({how})");
            }
        }
    }
    println!(
        "krusty: {passed} passed ({bytes} byte-identical), {} known failures, of {}",
        known.len(),
        cases.len()
    );
    assert!(
        stale.is_empty(),
        "listed cases not in the corpus: {stale:?}"
    );
    assert!(
        unexpected.is_empty(),
        "cases failing that are not listed: {unexpected:?}"
    );
    assert!(
        fixed.is_empty(),
        "listed cases that now pass (remove them): {fixed:?}"
    );
}
