//! Hostile input through the binary (issue 14): huge durations, terminal escapes in names and
//! messages, files that would exhaust memory. Memory is asserted with an address-space limit on the
//! child (`prlimit --as`), never by timing.

use std::path::Path;
use std::process::{Command, Output};

fn weir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .output()
        .expect("weir runs")
}

/// `weir` under an address-space limit of `mib` MiB.
fn weir_limited(mib: u64, args: &[&str]) -> Output {
    Command::new("prlimit")
        .arg(format!("--as={}", mib << 20))
        .arg(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .output()
        .expect("prlimit runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(p: &Path, content: &str) {
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, content).expect("write");
}

/// A ConfigMap whose one value makes the file `bytes` long, written without holding it in memory.
fn write_big_configmap(p: &Path, bytes: u64) {
    use std::io::Write;
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    let mut f = std::io::BufWriter::new(std::fs::File::create(p).expect("create"));
    let head = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  x: ";
    f.write_all(head.as_bytes()).expect("write");
    let chunk = vec![b'a'; 1 << 20];
    let mut left = bytes.saturating_sub(head.len() as u64 + 1);
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).expect("write");
        left -= n as u64;
    }
    f.write_all(b"\n").expect("write");
}

#[test]
fn r14_huge_timeouts_are_usage_errors_not_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8");
    for t in [
        "18446744073709551615",
        "18446744073709551615h",
        "5124095576030431h",
        "-1s",
        "1e9s",
    ] {
        let flag = format!("--timeout={t}");
        let o = weir(&["apply", d, "--name", "x", &flag]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{t}: {err}");
        assert!(!err.contains("panicked"), "{t}: {err}");
        assert!(err.contains("--timeout"), "{t}: {err}");
    }
}

#[test]
fn r14_check_table_escapes_names_and_messages_from_the_repository() {
    let repo = tempfile::tempdir().expect("tempdir");
    let evil = "apps\u{1b}]0;pwned\u{7}\u{1b}[2J";
    write(
        &repo.path().join("clusters/c/apps.yaml"),
        &format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: \"{}\"\n  namespace: flux-system\nspec:\n  interval: 1m\n  path: \"./missing\\e[31m\"\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n",
            evil.replace('\u{1b}', "\\e").replace('\u{7}', "\\a")
        ),
    );
    let o = weir(&[
        "check",
        repo.path().to_str().expect("utf-8"),
        "--cluster",
        "clusters/c",
    ]);
    let out = text(&o.stdout);
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert!(out.contains("apps\\u{1b}]0;pwned\\u{7}"), "{out}");
    assert!(out.contains("./missing\\u{1b}[31m"), "{out}");
}

#[test]
fn r14_errors_escape_control_characters_in_file_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir.path().join("app/kustomization.yaml"),
        "resources:\n- \"\\e]0;pwned\\a\\e[2Jgone.yaml\"\n",
    );
    let o = weir(&[
        "kustomize",
        "build",
        dir.path().join("app").to_str().expect("utf-8"),
    ]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    assert!(err.contains("\\u{1b}]0;pwned\\u{7}"), "{err}");
}

#[test]
fn r14_a_200_mb_document_is_refused_within_a_small_memory_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        &root.join("app/kustomization.yaml"),
        "resources: [big.yaml]\n",
    );
    write_big_configmap(&root.join("app/big.yaml"), 200 << 20);
    // kustomize build: refused from the file's size, within 256 MiB of address space.
    let o = weir_limited(
        256,
        &[
            "kustomize",
            "build",
            root.join("app").to_str().expect("utf-8"),
        ],
    );
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "big.yaml: cannot read: the file (200 MiB) is larger than the limit of 64 MiB"
        ),
        "{err}"
    );
    // weir check: the cluster directory's generated kustomization meets the same file.
    std::fs::rename(root.join("app/big.yaml"), root.join("clusters/c/big.yaml"))
        .or_else(|_| {
            std::fs::create_dir_all(root.join("clusters/c"))?;
            std::fs::rename(root.join("app/big.yaml"), root.join("clusters/c/big.yaml"))
        })
        .expect("move");
    let o = weir_limited(
        256,
        &[
            "check",
            root.to_str().expect("utf-8"),
            "--cluster",
            "clusters/c",
        ],
    );
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}\n{}", text(&o.stderr));
    assert!(out.contains("larger than the limit of 64 MiB"), "{out}");
}

#[test]
fn r14_links_in_the_repository_never_reach_host_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        &root.join("clusters/c/ok.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n",
    );
    std::os::unix::fs::symlink("/etc/passwd", root.join("clusters/c/passwd.yaml")).expect("link");
    std::os::unix::fs::symlink("/dev/zero", root.join("clusters/c/zero.yaml")).expect("link");
    let o = weir_limited(
        256,
        &[
            "check",
            root.to_str().expect("utf-8"),
            "--cluster",
            "clusters/c",
        ],
    );
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}\n{}", text(&o.stderr));
    assert!(
        out.contains("outside the root") || out.contains("not in or below"),
        "{out}"
    );
    assert!(!out.contains("root:x:0:0"), "{out}");
}

#[test]
fn max_file_size_is_a_flag_with_bounds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = dir.path().join("app");
    write(&app.join("kustomization.yaml"), "resources: [cm.yaml]\n");
    write_big_configmap(&app.join("cm.yaml"), 2048);
    let app = app.to_str().expect("utf-8");
    let o = weir(&["kustomize", "build", app, "--max-file-size", "1Ki"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("larger than the limit of 1 KiB"), "{err}");
    let o = weir(&["kustomize", "build", app, "--max-file-size", "4Ki"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    for bad in ["0", "17179869184Gi", "x"] {
        let o = weir(&["kustomize", "build", app, "--max-file-size", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o.stderr));
    }
}
