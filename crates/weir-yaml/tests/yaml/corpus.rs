//! The kustomize conformance corpus: every `expected.yaml` is kustomize v5.5's own output, so
//! reading it and writing it back must give the same bytes; every input file must parse.

use std::path::{Path, PathBuf};

/// `$WEIR_SHARED/conformance/kustomize`, else `../../../shared` from this crate. A missing corpus
/// is a failure, not a skip.
fn corpus_dir() -> PathBuf {
    let shared = std::env::var_os("WEIR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let dir = shared.join("conformance/kustomize");
    assert!(
        dir.is_dir(),
        "conformance corpus not found at {} (set WEIR_SHARED)",
        dir.display()
    );
    dir
}

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus directory is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.txt").is_file())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in the corpus");
    cases
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
            || p.file_name().is_some_and(|n| n == "Kustomization")
        {
            out.push(p);
        }
    }
}

#[test]
fn expected_outputs_round_trip_byte_for_byte() {
    let mut total = 0;
    let mut failures = Vec::new();
    for case in cases() {
        let expected = case.join("expected.yaml");
        let Ok(text) = std::fs::read_to_string(&expected) else {
            continue;
        };
        total += 1;
        let docs = match weir_yaml::from_str(&text) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{}: {e}", expected.display()));
                continue;
            }
        };
        let written = weir_yaml::to_string_multi(&docs);
        if written != text {
            let line = written
                .lines()
                .zip(text.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(written.lines().count().min(text.lines().count()));
            failures.push(format!(
                "{}: first difference at line {}:\n  got:  {:?}\n  want: {:?}",
                expected.display(),
                line + 1,
                written.lines().nth(line),
                text.lines().nth(line)
            ));
        }
    }
    assert!(total > 0, "no expected.yaml in the corpus");
    assert!(
        failures.is_empty(),
        "{} of {total} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_input_file_parses_and_rewrites_stably() {
    let mut checked = 0;
    for case in cases() {
        let invalid_case = case.file_name().is_some_and(|n| n == "err-invalid-yaml");
        let mut files = Vec::new();
        yaml_files(&case, &mut files);
        for file in files {
            if file.file_name().is_some_and(|n| n == "expected.yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&file).expect("corpus files are UTF-8");
            let result = weir_yaml::from_str(&text);
            if invalid_case && result.is_err() {
                continue;
            }
            checked += 1;
            let docs = result.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            // What the writer prints reads back to the same text: output is a fixed point.
            let once = weir_yaml::to_string_multi(&docs);
            let again = weir_yaml::from_str(&once)
                .map(|d| weir_yaml::to_string_multi(&d))
                .unwrap_or_else(|e| panic!("{} written then read: {e}\n{once}", file.display()));
            assert_eq!(once, again, "{}", file.display());
        }
    }
    assert!(checked > 0);
}

#[test]
fn the_invalid_yaml_case_fails_with_a_line_number() {
    let case = corpus_dir().join("err-invalid-yaml");
    let mut files = Vec::new();
    yaml_files(&case, &mut files);
    let errors: Vec<weir_yaml::Error> = files
        .iter()
        .filter_map(|f| weir_yaml::from_str(&std::fs::read_to_string(f).ok()?).err())
        .collect();
    assert!(
        !errors.is_empty(),
        "no file of err-invalid-yaml was rejected"
    );
    for e in errors {
        assert!(e.line.is_some(), "error without a line: {e}");
    }
}
