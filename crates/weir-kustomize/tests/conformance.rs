//! Runs every case of the kustomize conformance corpus (`$WEIR_SHARED/conformance/kustomize`, else
//! `../shared` beside the repository) plus weir's own cases in `tests/cases/`.
//!
//! Success cases: weir's output and `expected.yaml` are parsed as YAML streams and must be equal, in
//! order, type-strict; byte identity is reported. Error cases must fail with a non-empty message.
//! Summary: N byte-identical success cases, M passing cases (semantically equal, or failing as
//! expected), K failed, of T.

use std::path::{Path, PathBuf};

use weir_kustomize::{BuildOptions, DiskFs, build};

fn corpus_dirs() -> Vec<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = std::env::var_os("WEIR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../../shared"));
    vec![
        shared.join("conformance/kustomize"),
        manifest.join("tests/cases"),
    ]
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
    let mut cases = Vec::new();
    for dir in corpus_dirs() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()));
        for e in entries.flatten() {
            if e.path().join("case.txt").exists() {
                cases.push(e.path());
            }
        }
    }
    cases.sort();
    assert!(!cases.is_empty(), "no conformance cases found");
    let (mut bytes, mut passed, mut failed) = (0, 0, 0);
    for case in &cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
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
