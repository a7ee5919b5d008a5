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

// Issue 11: one small repository per bug.

fn warnings(c: &Checked) -> Vec<String> {
    c.report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(|f| format!("[{}] {}: {}", f.kind.as_str(), f.object, f.message))
        .collect()
}

fn rendered<'a>(c: &'a Checked, ns: &str, name: &str) -> &'a [serde_json::Value] {
    &c.rendered[&weir_api::ObjectKey::new(ns, name)]
}

fn ks_with(name: &str, path: &str, extra: &str) -> String {
    format!("{}{extra}", ks(name, path, &[]))
}

#[test]
fn r11_nested_defaults_and_replacements_substitute_as_in_flux() {
    let k = ks_with(
        "apps",
        "./apps",
        "  postBuild:\n    substitute:\n      APP: web\n      SECRET_DOMAIN: example.com\n",
    );
    let files = [
        ("clusters/dev/ks.yaml", k),
        (
            "apps/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: apps\ndata:\n  claim: ${CLAIM:-${APP}}\n  host: ${SECRET_DOMAIN/./-}\n  upper: ${APP^^}\n  escaped: $${APP}\n".to_string(),
        ),
    ];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/dev");
    assert_eq!(errors(&c), Vec::<String>::new());
    let cm = &rendered(&c, "flux-system", "apps")[0];
    assert_eq!(
        cm["data"],
        serde_json::json!({"claim": "web", "host": "example-com", "upper": "WEB", "escaped": "${APP}"})
    );
}

#[test]
fn r11_no_variable_at_all_skips_substitution() {
    // Flux skips substitution when postBuild defines no variable (substituteStrategy
    // WithVariables): `${X}` stays and is not an error.
    let k = ks_with(
        "apps",
        "./apps",
        "  postBuild:\n    substituteFrom:\n      - kind: ConfigMap\n        name: maybe\n        optional: true\n",
    );
    let files = [
        ("clusters/dev/ks.yaml", k),
        ("apps/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: apps\ndata:\n  a: ${X}\n".to_string()),
    ];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/dev");
    assert_eq!(errors(&c), Vec::<String>::new());
    assert_eq!(rendered(&c, "flux-system", "apps")[0]["data"]["a"], "${X}");
}

#[test]
fn r11_failed_substitution_still_counts_objects_for_duplicates() {
    let a = ks_with(
        "a",
        "./a",
        "  postBuild:\n    substitute:\n      known: x\n",
    );
    let files = [
        (
            "clusters/dev/ks.yaml",
            [a, ks("b", "./b", &[])].join("---\n"),
        ),
        (
            "a/objects.yaml",
            format!(
                "{}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n  namespace: apps\ndata:\n  v: ${{undefined}}\n",
                configmap("shared", "apps", "from-a")
            ),
        ),
        ("b/cm.yaml", configmap("shared", "apps", "from-b")),
    ];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/dev");
    let e = errors(&c);
    assert!(
        e.iter()
            .any(|e| e.starts_with("[unresolved-variable] Kustomization/flux-system/a")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|e| e.starts_with("[duplicate-object]") && e.contains("ConfigMap apps/shared")),
        "{e:?}"
    );
    let a = kustomization(&c, "a");
    assert_eq!(a.status, Status::Failed);
    assert_eq!(a.objects.len(), 2, "the build's objects are listed");
}

#[test]
fn r11_kubeconfig_targets_own_objects_per_cluster() {
    let target = |secret: &str| format!("  kubeConfig:\n    secretRef:\n      name: {secret}\n");
    let files = [
        (
            "clusters/hub/ks.yaml",
            [
                ks_with("spoke1", "./app", &target("spoke1-kubeconfig")),
                ks_with("spoke2", "./app", &target("spoke2-kubeconfig")),
                ks_with("spoke1-again", "./app", &target("spoke1-kubeconfig")),
            ]
            .join("---\n"),
        ),
        ("app/cm.yaml", configmap("shared", "apps", "v")),
    ];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/hub");
    let e = errors(&c);
    // Only the two Kustomizations applying to the same cluster clash.
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("on the cluster of Secret/flux-system/spoke1-kubeconfig")
            && e[0].contains("spoke1-again"),
        "{}",
        e[0]
    );
    assert_eq!(
        kustomization(&c, "spoke2").target.as_deref(),
        Some("Secret/flux-system/spoke2-kubeconfig")
    );
    assert_eq!(kustomization(&c, "flux-system").target, None);
}

const APPS_CM: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: apps\ndata:\n  a: b\n";

#[test]
fn r11_root_git_repository_may_have_any_name() {
    // Bootstrapped by Terraform or the Flux Operator: the sync is named "fleet", not flux-system.
    let sync = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: fleet\n  namespace: flux-system\nspec:\n  interval: 1m\n  url: https://example.com/fleet.git\n  ref:\n    branch: main\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: fleet\n  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./clusters/dev\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: fleet\n";
    let apps =
        ks("apps", "./apps", &[]).replace("name: flux-system\n  path", "name: fleet\n  path");
    let files = [
        ("clusters/dev/sync/sync.yaml", sync.to_string()),
        ("clusters/dev/apps.yaml", apps),
        ("apps/cm.yaml", APPS_CM.to_string()),
    ];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/dev");
    assert_eq!(errors(&c), Vec::<String>::new());
    assert_eq!(warnings(&c), Vec::<String>::new());
    assert_eq!(names(&c), ["flux-system/fleet", "flux-system/apps"]);
    assert_eq!(kustomization(&c, "apps").status, Status::Ok);
}

#[test]
fn r11_flux_instance_sync_is_the_root() {
    let instance = "apiVersion: fluxcd.controlplane.io/v1\nkind: FluxInstance\nmetadata:\n  name: flux\n  namespace: flux-system\nspec:\n  distribution:\n    version: 2.x\n  sync:\n    kind: GitRepository\n    url: https://example.com/fleet.git\n    ref: refs/heads/main\n    path: clusters/dev\n";
    let files = [
        (
            "clusters/dev/flux-system/instance.yaml",
            instance.to_string(),
        ),
        ("clusters/dev/apps.yaml", ks("apps", "./apps", &[])),
        ("apps/cm.yaml", APPS_CM.to_string()),
    ];
    let repo = write_repo(&cluster_files(&files));
    assert_eq!(
        weir_check::cluster_dirs(repo.path()),
        [PathBuf::from("clusters/dev")]
    );
    let c = run(repo.path(), "clusters/dev");
    assert_eq!(errors(&c), Vec::<String>::new());
    assert_eq!(kustomization(&c, "apps").status, Status::Ok);
}

#[test]
fn r11_source_mapping_checks_another_local_repository() {
    let podinfo = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: podinfo\n  namespace: flux-system\nspec:\n  interval: 1m\n  url: https://github.com/stefanprodan/podinfo\n  ref:\n    branch: master\n---\n".to_string()
        + &ks("podinfo", "./kustomize", &[]).replace("name: flux-system\n  path", "name: podinfo\n  path");
    let files = [("clusters/dev/podinfo.yaml", podinfo)];
    let repo = write_repo(&cluster_files(&files));
    let other = write_repo(&[("kustomize/cm.yaml", APPS_CM)]);
    let without = run(repo.path(), "clusters/dev");
    assert_eq!(
        kustomization(&without, "podinfo").status,
        Status::NotChecked
    );
    let c = check(
        repo.path(),
        &CheckOptions {
            cluster: Some("clusters/dev".into()),
            sources: vec![
                format!(
                    "GitRepository/flux-system/podinfo={}",
                    other.path().display()
                )
                .parse()
                .expect("a mapping"),
            ],
            ..Default::default()
        },
    )
    .expect("check runs");
    assert_eq!(errors(&c), Vec::<String>::new());
    let p = kustomization(&c, "podinfo");
    assert_eq!(p.status, Status::Ok);
    assert_eq!(p.objects.len(), 1);
}

#[test]
fn r11_sops_encrypted_secrets_are_never_plain_values() {
    let k = ks_with(
        "apps",
        "./apps",
        "  postBuild:\n    substituteFrom:\n      - kind: Secret\n        name: vars\n",
    );
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: vars\n  namespace: flux-system\nstringData:\n  token: ENC[AES256_GCM,data:abc=,iv:x=,tag:y=,type:str]\nsops:\n  mac: ENC[AES256_GCM,data:m=,iv:x=,tag:y=,type:str]\n  lastmodified: \"2024-01-01T00:00:00Z\"\n  version: 3.8.1\n";
    let files = [
        ("clusters/dev/ks.yaml", k),
        ("clusters/dev/secret.yaml", secret.to_string()),
        ("apps/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: apps\ndata:\n  t: ${token}\n".to_string()),
    ];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/dev");
    assert_eq!(errors(&c), Vec::<String>::new());
    let cm = &rendered(&c, "flux-system", "apps")[0];
    assert_eq!(
        cm["data"]["t"], "${token}",
        "ciphertext is never substituted"
    );
    assert!(
        warnings(&c).iter().any(|w| w.contains("SOPS-encrypted")),
        "{:?}",
        warnings(&c)
    );
}

#[test]
fn r11_remote_bases_are_warnings_not_errors() {
    let files = [
        ("clusters/dev/ks.yaml", ks("remote", "./remote", &[])),
        (
            "remote/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.5.0\n".to_string(),
        ),
        ("clusters/dev/url-gen.yaml", ks("gen", "./gen", &[])),
        (
            "gen/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nconfigMapGenerator:\n  - name: dash\n    files:\n      - https://example.com/dashboards/a.json\n".to_string(),
        ),
    ];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/dev");
    assert_eq!(errors(&c), Vec::<String>::new());
    for name in ["remote", "gen"] {
        assert_eq!(kustomization(&c, name).status, Status::NotChecked, "{name}");
    }
    let w = warnings(&c);
    assert!(
        w.iter()
            .any(|w| w.contains("https://github.com/kubernetes-sigs/kustomize")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.contains("https://example.com/dashboards/a.json")),
        "{w:?}"
    );
}

#[test]
fn r11_cluster_directories_are_found() {
    let files = [
        (
            "clusters/a/flux-system/gotk-sync.yaml",
            "# placeholder\n".to_string(),
        ),
        (
            "clusters/a/flux-system/gotk-components.yaml",
            "# placeholder\n".to_string(),
        ),
        (
            "clusters/b/flux-system/gotk-components.yaml",
            "# placeholder\n".to_string(),
        ),
        ("apps/cm.yaml", APPS_CM.to_string()),
        // A tenant's Kustomization of its own repository's root is not a sync of this one.
        ("tenants/t.yaml", ks("tenant", "./", &[])),
    ];
    let repo = write_repo(&cluster_files(&files));
    assert_eq!(
        weir_check::cluster_dirs(repo.path()),
        [PathBuf::from("clusters/a"), PathBuf::from("clusters/b")]
    );
}

#[test]
fn r11_cluster_directories_from_a_flux_instance_chart_or_the_clusters_convention() {
    // The Flux Operator's flux-instance chart installed by a HelmRelease.
    let release = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: flux-instance\n  namespace: flux-system\nspec:\n  interval: 1h\n  chartRef:\n    kind: OCIRepository\n    name: flux-instance\n  values:\n    instance:\n      sync:\n        kind: GitRepository\n        url: https://example.com/fleet\n        ref: refs/heads/main\n        path: kubernetes/flux/cluster\n";
    let files = [
        ("kubernetes/apps/flux/helmrelease.yaml", release.to_string()),
        (
            "kubernetes/flux/cluster/apps.yaml",
            ks("apps", "./kubernetes/apps", &[]),
        ),
    ];
    let repo = write_repo(&cluster_files(&files));
    assert_eq!(
        weir_check::cluster_dirs(repo.path()),
        [PathBuf::from("kubernetes/flux/cluster")]
    );
    // Nothing committed by bootstrap: the folders of clusters/ holding Flux Kustomizations.
    let files = [
        ("clusters/one/apps.yaml", ks("apps", "./apps", &[])),
        ("clusters/notes/readme.yaml", "a: b\n".to_string()),
        ("apps/cm.yaml", APPS_CM.to_string()),
    ];
    let repo = write_repo(&cluster_files(&files));
    assert_eq!(
        weir_check::cluster_dirs(repo.path()),
        [PathBuf::from("clusters/one")]
    );
}

#[test]
fn r11_non_string_labels_of_flux_objects_are_dropped_not_refused() {
    // The API server drops malformed metadata of a custom resource (kube-apiserver's
    // objectmeta coercion): a Kustomization labelled `enabled: true` still applies.
    let child = ks("apps", "./apps", &[]).replace(
        "  namespace: flux-system\n",
        "  namespace: flux-system\n  labels:\n    substitution.flux/enabled: true\n",
    );
    let files = [
        ("clusters/dev/apps.yaml", child),
        ("apps/cm.yaml", APPS_CM.to_string()),
    ];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/dev");
    assert_eq!(errors(&c), Vec::<String>::new());
    assert_eq!(kustomization(&c, "apps").status, Status::Ok);
    assert!(
        warnings(&c)
            .iter()
            .any(|w| w.contains("dropped by the API server")),
        "{:?}",
        warnings(&c)
    );
}

#[test]
fn r11_a_missing_dependency_that_an_unrendered_kustomization_may_define_is_a_warning() {
    let files = [
        (
            "clusters/dev/ks.yaml",
            [
                ks("broken", "./nope", &[]),
                ks("app", "./apps", &["defined-by-broken"]),
            ]
            .join("---\n"),
        ),
        ("apps/cm.yaml", APPS_CM.to_string()),
    ];
    let repo = write_repo(&cluster_files(&files));
    let c = run(repo.path(), "clusters/dev");
    let e = errors(&c);
    assert_eq!(e.len(), 1, "only the broken build is an error: {e:?}");
    assert!(
        e[0].starts_with("[build-error] Kustomization/flux-system/broken"),
        "{}",
        e[0]
    );
    assert!(
        warnings(&c).iter().any(|w| w
            .starts_with("[missing-dependency] Kustomization/flux-system/app")
            && w.contains("1 Kustomization could not be rendered and may define it")),
        "{:?}",
        warnings(&c)
    );
}
