//! `weir check` and `weir build ks` through the binary: exit codes, table and JSON output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn weir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .output()
        .expect("weir runs")
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/fleet")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn check_prints_a_table_and_exits_zero_on_a_clean_repository() {
    let o = weir(&[
        "check",
        example().to_str().expect("utf-8 path"),
        "--cluster",
        "clusters/staging",
    ]);
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.starts_with("KUSTOMIZATION"), "{out}");
    assert!(
        out.contains("flux-system/apps") && out.contains("./apps/staging"),
        "{out}"
    );
    assert!(
        out.contains("warning [source-unavailable] HelmRelease/cert-manager/cert-manager"),
        "{out}"
    );
    // The apply order in waves: each wave depends only on earlier ones.
    assert!(
        out.contains("apply order:\n   1  flux-system/flux-system, flux-system/infra-controllers\n   2  flux-system/infra-configs\n   3  flux-system/apps\n"),
        "{out}"
    );
    assert!(
        out.contains("4 Kustomizations (4 rendered, 0 failed, 0 not checked offline)")
            && out.contains("0 errors"),
        "{out}"
    );
    // No colour codes when stdout is not a terminal.
    assert!(!out.contains('\u{1b}'), "{out}");
}

#[test]
fn check_json_has_the_documented_shape() {
    let o = weir(&[
        "check",
        example().to_str().expect("utf-8 path"),
        "--cluster",
        "clusters/staging",
        "-o",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    let ks = v["kustomizations"].as_array().expect("kustomizations[]");
    let apps = ks.iter().find(|k| k["name"] == "apps").expect("apps");
    for field in [
        "name",
        "namespace",
        "path",
        "source",
        "dependsOn",
        "objects",
        "status",
    ] {
        assert!(apps.get(field).is_some(), "missing {field}: {apps}");
    }
    assert_eq!(
        apps["dependsOn"],
        serde_json::json!(["flux-system/infra-configs"])
    );
    assert_eq!(apps["status"], "ok");
    let obj = &apps["objects"][0];
    for field in ["apiVersion", "kind", "name"] {
        assert!(obj.get(field).is_some(), "object lacks {field}: {obj}");
    }
    assert!(
        v["findings"]
            .as_array()
            .expect("findings[]")
            .iter()
            .all(|f| f["severity"] == "warning")
    );
    assert_eq!(v["order"][0], "flux-system/flux-system");
}

#[test]
fn check_exits_one_on_findings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ks = |name: &str, dep: &str| {
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  path: ./\n  dependsOn:\n    - name: {dep}\n"
        )
    };
    std::fs::create_dir_all(dir.path().join("clusters/x")).expect("mkdir");
    std::fs::write(
        dir.path().join("clusters/x/ks.yaml"),
        format!("{}---\n{}", ks("a", "b"), ks("b", "a")),
    )
    .expect("write");
    let o = weir(&[
        "check",
        dir.path().to_str().expect("utf-8"),
        "--cluster",
        "clusters/x",
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("error   [cycle] Kustomization/flux-system/a: dependsOn cycle: a -> b -> a"),
        "{out}"
    );
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(weir(&["check", "--output", "xml"]).status.code(), Some(2));
    let o = weir(&["check", "/definitely/not/here"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/definitely/not/here"));
}

#[test]
fn build_ks_prints_what_check_rendered() {
    let o = weir(&[
        "build",
        "ks",
        "apps",
        "--dir",
        example().to_str().expect("utf-8"),
        "--cluster",
        "clusters/staging",
    ]);
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("kind: Deployment") && out.contains("host: podinfo.staging.example.com"),
        "{out}"
    );
    assert!(out.contains("replicas: 2"), "{out}");
    assert!(!out.contains("${"), "variables left unsubstituted: {out}");
    let missing = weir(&[
        "build",
        "ks",
        "nope",
        "--dir",
        example().to_str().expect("utf-8"),
        "--cluster",
        "clusters/staging",
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("flux-system/apps"),
        "lists what exists"
    );
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }
}

fn helm_release(name: &str) -> String {
    format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: {name}\n  namespace: apps\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: {name}\n      sourceRef:\n        kind: HelmRepository\n        name: charts\n---\n"
    )
}

#[test]
fn r11_check_without_cluster_finds_the_only_one_and_lists_several() {
    let dir = tempfile::tempdir().expect("tempdir");
    let releases: String = ["a", "b", "c", "d"]
        .iter()
        .map(|n| helm_release(n))
        .collect();
    write(
        dir.path(),
        &[
            (
                "clusters/one/flux-system/gotk-components.yaml",
                "# placeholder\n",
            ),
            ("clusters/one/releases.yaml", &releases),
        ],
    );
    let root = dir.path().to_str().expect("utf-8");
    let o = weir(&["check", root]);
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Four identical warnings fold into one line; -v lists them.
    assert!(
        out.contains("warning [source-unavailable] Helm charts are not rendered offline: 4 HelmReleases (HelmRelease/apps/a, HelmRelease/apps/b, HelmRelease/apps/c, ...; -v lists them)"),
        "{out}"
    );
    let verbose = stdout(&weir(&["check", root, "-v"]));
    assert_eq!(
        verbose
            .matches("Helm charts are not rendered offline")
            .count(),
        4,
        "{verbose}"
    );

    write(
        dir.path(),
        &[("clusters/two/flux-system/gotk-sync.yaml", "# placeholder\n")],
    );
    let o = weir(&["check", root]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "2 cluster directories; choose one with --cluster:\n  clusters/one\n  clusters/two"
        ),
        "{err}"
    );
}

#[test]
fn r11_build_ks_suggests_the_namespace() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        &[
            (
                "clusters/one/flux-system/gotk-components.yaml",
                "# placeholder\n",
            ),
            (
                "clusters/one/apps.yaml",
                "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: team-a\nspec:\n  interval: 10m\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n    namespace: flux-system\n  path: ./apps\n",
            ),
            (
                "apps/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: apps\ndata:\n  a: b\n",
            ),
        ],
    );
    let root = dir.path().to_str().expect("utf-8");
    let o = weir(&["build", "ks", "apps", "--dir", root]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no Kustomization flux-system/apps; it is in namespace team-a: add -n team-a"),
        "{err}"
    );
    let o = weir(&["build", "ks", "apps", "-n", "team-a", "--dir", root]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout(&o).contains("name: cm"));
}

#[test]
fn r14_substitution_amplification_fails_cleanly_under_a_memory_limit() {
    // Issue 14 item 7: 225 KB of input (a 200 KB value used 5,000 times) must give a clear error,
    // not abort on allocation. The address space is capped so an unbounded expansion (1 GB) fails.
    let dir = tempfile::tempdir().expect("tempdir");
    let big = "x".repeat(200_000);
    let keys: String = (0..5_000).map(|i| format!("  k{i}: ${{BIG}}\n")).collect();
    write(
        dir.path(),
        &[
            (
                "clusters/one/flux-system/gotk-components.yaml",
                "# placeholder\n",
            ),
            (
                "clusters/one/apps.yaml",
                &format!(
                    "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  interval: 10m\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  path: ./apps\n  postBuild:\n    substitute:\n      BIG: {big}\n"
                ),
            ),
            (
                "apps/cm.yaml",
                &format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  namespace: apps\ndata:\n{keys}"
                ),
            ),
        ],
    );
    let o = Command::new("prlimit")
        .arg("--as=1610612736")
        .arg(env!("CARGO_BIN_EXE_weir"))
        .args(["check", dir.path().to_str().expect("utf-8")])
        .output()
        .expect("prlimit runs (util-linux)");
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("substitution output exceeds 8388608 bytes"),
        "{out}"
    );
}

/// The repository of weir-check's `--decrypt` tests, its Secrets encrypted by the real sops.
fn sops_repo(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../weir-check/tests/fixtures/sops-repo")
        .join(rel)
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

/// `weir` with no sops key anywhere in its environment except what the test gives.
fn weir_keys(args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.args(args)
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("XDG_CONFIG_HOME")
        .env("HOME", home.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("weir runs")
}

#[test]
fn r11_decrypt_reads_age_keys_where_sops_does() {
    let repo = sops_repo("repo");
    let base = ["check", repo.as_str(), "--cluster", "clusters/prod"];
    let plain = weir_keys(&base, &[]);
    assert_eq!(plain.status.code(), Some(0));
    assert!(
        stdout(&plain).contains("SOPS-encrypted"),
        "{}",
        stdout(&plain)
    );

    let key = sops_repo("keys/age.agekey");
    let text = std::fs::read_to_string(&key).expect("key");
    for (flags, env) in [
        (vec!["--age-key-file", key.as_str()], vec![]),
        (vec!["--decrypt"], vec![("SOPS_AGE_KEY_FILE", key.as_str())]),
        (vec!["--decrypt"], vec![("SOPS_AGE_KEY", text.as_str())]),
    ] {
        let args: Vec<&str> = base.iter().copied().chain(flags.iter().copied()).collect();
        let o = weir_keys(&args, &env);
        let out = stdout(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{flags:?}: {out}{err}");
        assert!(!out.contains("SOPS"), "{flags:?}: {out}");
    }

    let wrong = sops_repo("keys/wrong.agekey");
    let o = weir_keys(
        &[&base[..], &["--age-key-file", wrong.as_str()]].concat(),
        &[],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("decryption failed for Secret flux-system/cluster-vars"),
        "{out}"
    );
    assert!(
        !out.contains("prod.example.org") && !out.contains("correct-horse"),
        "{out}"
    );

    let o = weir_keys(&[&base[..], &["--decrypt"]].concat(), &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no age identity found"), "{err}");
}

#[test]
fn r11_build_ks_decrypts_only_when_asked() {
    let repo = sops_repo("repo");
    let args = [
        "build",
        "ks",
        "apps",
        "--dir",
        repo.as_str(),
        "--cluster",
        "clusters/prod",
    ];
    let o = weir_keys(&args, &[]);
    assert!(
        !stdout(&o).contains("correct-horse-battery"),
        "{}",
        stdout(&o)
    );
    let key = sops_repo("keys/age.agekey");
    let o = weir_keys(
        &[&args[..], &["--age-key-file", key.as_str()]].concat(),
        &[],
    );
    let out = stdout(&o);
    assert!(out.contains("password: correct-horse-battery"), "{out}");
    assert!(
        out.contains("dsn: postgres://app@db.prod.example.org/app"),
        "{out}"
    );
}
