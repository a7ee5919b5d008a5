//! `weir check` behaviour through the library API: the shipped and shared example repositories
//! check clean, and each broken repository yields exactly its finding.

use std::path::{Path, PathBuf};

use weir_check::{
    CheckOptions, Checked, FindingKind, KustomizationReport, Severity, Status, check,
};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shared() -> PathBuf {
    std::env::var_os("WEIR_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"))
}

fn run(dir: &Path, cluster: &str) -> Checked {
    check(
        dir,
        &CheckOptions {
            cluster: Some(cluster.into()),
            ..Default::default()
        },
    )
    .expect("check runs")
}

fn errors(c: &Checked) -> Vec<String> {
    c.report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("[{}] {}: {}", f.kind.as_str(), f.object, f.message))
        .collect()
}

fn names(c: &Checked) -> Vec<String> {
    c.report
        .kustomizations
        .iter()
        .map(|k| format!("{}/{}", k.namespace, k.name))
        .collect()
}

/// Fails unless every `namespace/name` in `want` is among the checked Kustomizations.
fn assert_lists(c: &Checked, want: &[&str]) {
    let have = names(c);
    for w in want {
        assert!(have.iter().any(|h| h == w), "{w} missing from {have:?}");
    }
}

/// The report of the Kustomization named `name`.
fn kustomization<'a>(c: &'a Checked, name: &str) -> &'a KustomizationReport {
    c.report
        .kustomizations
        .iter()
        .find(|k| k.name == name)
        .unwrap_or_else(|| panic!("no Kustomization {name}"))
}

/// Writes a repository from (path, content) pairs.
fn write_repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, content) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("has parent")).expect("mkdir");
        std::fs::write(&p, content).expect("write");
    }
    dir
}

fn ks(name: &str, path: &str, depends_on: &[&str]) -> String {
    let mut s = format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 10m\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  path: {path}\n"
    );
    if !depends_on.is_empty() {
        s.push_str("  dependsOn:\n");
        for d in depends_on {
            s.push_str(&format!("    - name: {d}\n"));
        }
    }
    s
}

fn configmap(name: &str, ns: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  value: \"{value}\"\n"
    )
}

#[test]
fn shipped_example_checks_clean() {
    let c = run(&repo_root().join("examples/fleet"), "clusters/staging");
    assert_eq!(errors(&c), Vec::<String>::new());
    assert_eq!(
        names(&c),
        [
            "flux-system/flux-system",
            "flux-system/infra-controllers",
            "flux-system/infra-configs",
            "flux-system/apps"
        ]
    );
    assert_eq!(
        c.report.order,
        [
            "flux-system/flux-system",
            "flux-system/infra-controllers",
            "flux-system/infra-configs",
            "flux-system/apps"
        ]
    );
    assert!(
        c.report
            .kustomizations
            .iter()
            .all(|k| k.status == Status::Ok)
    );
    // The HelmRelease's chart is reported, not silently skipped.
    assert!(
        c.report
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::SourceUnavailable
                && f.object == "HelmRelease/cert-manager/cert-manager")
    );
    // Substitution happened: from the inline value, from cluster-vars, and through a default.
    let apps = &c.rendered[&weir_api::ObjectKey::new("flux-system", "apps")];
    let deploy = apps
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("deployment");
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(
        deploy["metadata"]["labels"]["app.kubernetes.io/part-of"],
        "fleet"
    );
    let ingress = apps
        .iter()
        .find(|o| o["kind"] == "Ingress")
        .expect("ingress");
    assert_eq!(
        ingress["spec"]["rules"][0]["host"],
        "podinfo.staging.example.com"
    );
    assert!(
        apps.iter().any(|o| o["kind"] == "PodDisruptionBudget"),
        "the component's resource is rendered"
    );
}

#[test]
fn flux2_kustomize_helm_example_checks_clean() {
    let c = run(
        &shared().join("examples/flux2-kustomize-helm-example"),
        "clusters/staging",
    );
    assert_eq!(errors(&c), Vec::<String>::new());
    assert_lists(
        &c,
        &[
            "flux-system/flux-system",
            "flux-system/infra-controllers",
            "flux-system/infra-configs",
            "flux-system/apps",
        ],
    );
    // The ExternalArtifact sources were assembled from this repository and rendered.
    assert!(
        c.report
            .kustomizations
            .iter()
            .all(|k| k.status == Status::Ok),
        "{:#?}",
        c.report.kustomizations
    );
    let apps = kustomization(&c, "apps");
    assert!(
        apps.objects.iter().any(|o| o.kind == "HelmRelease"),
        "{:?}",
        apps.objects
    );
    assert_eq!(
        c.report.order.last().map(String::as_str),
        Some("flux-system/apps")
    );
}

#[test]
fn flux2_multi_tenancy_checks_clean() {
    let c = run(
        &shared().join("examples/flux2-multi-tenancy"),
        "clusters/staging",
    );
    assert_eq!(errors(&c), Vec::<String>::new());
    assert_lists(
        &c,
        &[
            "flux-system/flux-system",
            "flux-system/kyverno",
            "flux-system/kyverno-policies",
            "flux-system/tenants",
            "apps/dev-team",
        ],
    );
    // The tenant's own repository and the OCI source are remote: warnings, not errors.
    let dev = kustomization(&c, "dev-team");
    assert_eq!(dev.status, Status::NotChecked);
    assert!(
        c.report
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::SourceUnavailable
                && f.object == "Kustomization/apps/dev-team")
    );
}

fn cluster_files<'a>(extra: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    extra.iter().map(|(p, c)| (*p, c.as_str())).collect()
}

#[test]
fn finds_a_cycle_and_names_the_chain() {
    let files = [
        (
            "clusters/dev/ks.yaml",
            [
                ks("infra", "./infra", &["db"]),
                ks("apps", "./apps", &["infra"]),
                ks("db", "./db", &["apps"]),
                ks("web", "./web", &["apps"]),
            ]
            .join("---\n"),
        ),
        ("infra/cm.yaml", configmap("infra", "default", "1")),
        ("apps/cm.yaml", configmap("apps", "default", "1")),
        ("db/cm.yaml", configmap("db", "default", "1")),
        ("web/cm.yaml", configmap("web", "default", "1")),
    ];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/dev");
    let cycles: Vec<_> = c
        .report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Cycle)
        .collect();
    assert_eq!(cycles.len(), 1, "{:?}", c.report.findings);
    // The chain starts at the first Kustomization in output order (by name) and follows dependsOn.
    assert!(
        cycles[0]
            .message
            .contains("dependsOn cycle: apps -> infra -> db -> apps"),
        "{}",
        cycles[0].message
    );
    // Blocked Kustomizations are not in the apply order.
    assert_eq!(c.report.order, ["flux-system/flux-system"]);
    assert!(c.report.has_errors());
}

#[test]
fn finds_a_missing_dependency_with_a_suggestion() {
    let files = [
        (
            "clusters/dev/ks.yaml",
            [
                ks("infra-configs", "./infra", &[]),
                ks("apps", "./apps", &["infra-config"]),
            ]
            .join("---\n"),
        ),
        ("infra/cm.yaml", configmap("infra", "default", "1")),
        ("apps/cm.yaml", configmap("apps", "default", "1")),
    ];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/dev");
    let e = errors(&c);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("[missing-dependency] Kustomization/flux-system/apps"),
        "{}",
        e[0]
    );
    assert!(
        e[0].contains("flux-system/infra-config")
            && e[0].contains("did you mean flux-system/infra-configs?"),
        "{}",
        e[0]
    );
}

#[test]
fn finds_an_object_applied_twice() {
    let files = [
        (
            "clusters/dev/ks.yaml",
            [ks("a", "./a", &[]), ks("b", "./b", &[])].join("---\n"),
        ),
        ("a/cm.yaml", configmap("shared", "apps", "from-a")),
        ("b/cm.yaml", configmap("shared", "apps", "from-b")),
    ];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/dev");
    let e = errors(&c);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("[duplicate-object]"), "{}", e[0]);
    assert!(
        e[0].contains("ConfigMap apps/shared")
            && e[0].contains("flux-system/a (./a)")
            && e[0].contains("flux-system/b (./b)"),
        "{}",
        e[0]
    );
}

#[test]
fn finds_unresolved_variables_but_respects_defaults_and_opt_out() {
    let mut k = ks("apps", "./apps", &[]);
    k.push_str("  postBuild:\n    substitute:\n      known: yes-it-is\n");
    let files = [
        ("clusters/dev/ks.yaml", k),
        ("apps/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vars\n  namespace: apps\ndata:\n  a: ${known}\n  b: ${with_default:=x}\n  c: ${undefined_one}\n  d: ${undefined_two}\n".to_string()),
        ("apps/skip.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: skipped\n  namespace: apps\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  a: ${not_substituted}\n".to_string()),
    ];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/dev");
    let e = errors(&c);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("[unresolved-variable] Kustomization/flux-system/apps"),
        "{}",
        e[0]
    );
    assert!(
        e[0].contains("ConfigMap apps/vars") && e[0].contains("${undefined_one}, ${undefined_two}"),
        "{}",
        e[0]
    );
    let apps = kustomization(&c, "apps");
    assert_eq!(apps.status, Status::Failed);
}

#[test]
fn finds_build_errors_and_keeps_going() {
    let files = [
        (
            "clusters/dev/ks.yaml",
            [
                ks("broken", "./broken", &[]),
                ks("fine", "./fine", &[]),
                ks("nowhere", "./does-not-exist", &[]),
            ]
            .join("---\n"),
        ),
        (
            "broken/kustomization.yaml",
            "resources:\n  - missing.yaml\n".to_string(),
        ),
        ("fine/cm.yaml", configmap("fine", "default", "1")),
    ];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/dev");
    let e = errors(&c);
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e.iter().any(
            |m| m.starts_with("[build-error] Kustomization/flux-system/broken")
                && m.contains("missing.yaml")
        ),
        "{e:?}"
    );
    assert!(
        e.iter().any(
            |m| m.starts_with("[build-error] Kustomization/flux-system/nowhere")
                && m.contains("does-not-exist")
        ),
        "{e:?}"
    );
    let fine = kustomization(&c, "fine");
    assert_eq!(fine.status, Status::Ok);
    assert_eq!(fine.objects.len(), 1);
}

#[test]
fn finds_invalid_objects() {
    let files = [
        ("clusters/dev/ks.yaml", ks("apps", "./apps", &[])),
        ("apps/cm.yaml", configmap("Not_A_Valid_Name", "apps", "1")),
    ];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/dev");
    let e = errors(&c);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("[invalid-object] Kustomization/flux-system/apps"),
        "{}",
        e[0]
    );
    assert!(
        e[0].contains("metadata.name") && e[0].contains("Not_A_Valid_Name"),
        "{}",
        e[0]
    );
}

#[test]
fn remote_sources_are_warnings() {
    let files = [(
        "clusters/dev/sources.yaml",
        "apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\nmetadata:\n  name: podinfo\n  namespace: flux-system\nspec:\n  interval: 10m\n  url: oci://ghcr.io/stefanprodan/manifests/podinfo\n  ref:\n    tag: latest\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: podinfo\n  namespace: flux-system\nspec:\n  interval: 10m\n  sourceRef:\n    kind: OCIRepository\n    name: podinfo\n  path: ./\n".to_string(),
    )];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/dev");
    assert_eq!(errors(&c), Vec::<String>::new());
    let w: Vec<_> = c
        .report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::SourceUnavailable)
        .collect();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].severity, Severity::Warning);
    assert!(
        w[0].message
            .contains("oci://ghcr.io/stefanprodan/manifests/podinfo"),
        "{}",
        w[0].message
    );
}

#[test]
fn a_path_outside_the_repository_is_refused() {
    let files = [("clusters/dev/ks.yaml", ks("escape", "../../etc", &[]))];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/dev");
    let e = errors(&c);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("leaves the source root"), "{}", e[0]);
}

#[test]
fn a_bad_cluster_path_is_an_error() {
    let repo = write_repo(&[("a.yaml", "")]);
    assert!(
        check(
            repo.path(),
            &CheckOptions {
                cluster: Some("clusters/nope".into()),
                ..Default::default()
            }
        )
        .is_err()
    );
}
