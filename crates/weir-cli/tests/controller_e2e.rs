//! `weir controller` end to end: the real binary against a testenv control plane, reading
//! GitRepositories served by `git http-backend` on loopback. One plane and one controller for this
//! test binary; each test works in its own namespace with its own repository.

mod controller_harness;

use std::time::{Duration, Instant};

use controller_harness::*;
use serde_json::Value;

#[test]
fn a_push_is_applied_and_what_left_git_is_pruned() {
    let ns = "e2e-push";
    namespace(ns);
    let repo = Repo::new(
        "push",
        &[
            ("app/a.yaml", &configmap("a", "one")),
            ("app/b.yaml", &configmap("b", "one")),
        ],
    );
    apply(&git_repository(ns, "repo", &repo.url(), "1h"));
    apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: e2e-push\n",
    ));
    let ks = wait_ready("kustomization", ns, "app");
    let revision = ks["status"]["lastAppliedRevision"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(revision.starts_with("main@sha1:"), "{revision}");
    assert_eq!(
        get("configmap", ns, "a").expect("a")["data"]["value"],
        "one"
    );
    assert!(get("configmap", ns, "b").is_some());
    let entries = ks["status"]["inventory"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        entries
            .iter()
            .any(|e| e["id"] == "e2e-push_a__ConfigMap" && e["v"] == "v1"),
        "{entries:?}"
    );

    repo.write(&[("app/a.yaml", &configmap("a", "two"))]);
    repo.remove("app/b.yaml");
    let commit = repo.commit("change a, drop b");
    request_reconcile("gitrepository", ns, "repo");
    eventually(
        "the new revision applied and b pruned",
        Duration::from_secs(60),
        || {
            let ks = get("kustomization", ns, "app").ok_or("ks gone")?;
            let applied = ks["status"]["lastAppliedRevision"]
                .as_str()
                .unwrap_or_default();
            if !applied.ends_with(&commit) {
                return Err(format!("applied {applied}"));
            }
            let a = get("configmap", ns, "a").ok_or("a missing")?;
            if a["data"]["value"] != "two" {
                return Err(format!("a = {}", a["data"]["value"]));
            }
            if get("configmap", ns, "b").is_some() {
                return Err("b still there".into());
            }
            Ok(())
        },
    );
    let (_, events) = kubectl(&["get", "events", "-n", ns, "-o", "json"], None);
    let events: Value = serde_json::from_str(&events).expect("events json");
    let notes: Vec<String> = events["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("ConfigMap/e2e-push/b deleted") && n.contains(&commit)),
        "an event lists the pruned object with the revision: {notes:#?}"
    );
}

#[test]
fn a_dependency_chain_applies_in_order_and_a_cycle_stalls_without_looping() {
    let ns = "e2e-deps";
    namespace(ns);
    let repo = Repo::new(
        "deps",
        &[
            ("one/cm.yaml", &configmap("one", "1")),
            ("two/cm.yaml", &configmap("two", "2")),
            ("three/cm.yaml", &configmap("three", "3")),
            ("cx/cm.yaml", &configmap("cx", "x")),
            ("cy/cm.yaml", &configmap("cy", "y")),
        ],
    );
    apply(&git_repository(ns, "repo", &repo.url(), "1h"));
    // Created in reverse so the order comes from dependsOn, not from creation.
    apply(&kustomization(
        ns,
        "three",
        "./three",
        "  targetNamespace: e2e-deps\n  dependsOn: [{name: two}]\n",
    ));
    apply(&kustomization(
        ns,
        "two",
        "./two",
        "  targetNamespace: e2e-deps\n  dependsOn: [{name: one}]\n",
    ));
    apply(&kustomization(
        ns,
        "one",
        "./one",
        "  targetNamespace: e2e-deps\n",
    ));
    let started = Instant::now();
    wait_ready("kustomization", ns, "three");
    let chain_time = started.elapsed();
    assert!(
        chain_time < Duration::from_secs(30),
        "a 3-deep chain took {chain_time:?}"
    );
    for n in ["one", "two", "three"] {
        assert!(get("configmap", ns, n).is_some(), "{n} applied");
    }

    apply(&kustomization(
        ns,
        "cx",
        "./cx",
        "  targetNamespace: e2e-deps\n  dependsOn: [{name: cy}]\n",
    ));
    apply(&kustomization(
        ns,
        "cy",
        "./cy",
        "  targetNamespace: e2e-deps\n  dependsOn: [{name: cx}]\n",
    ));
    let stalled = eventually("cx Stalled with the chain", Duration::from_secs(30), || {
        let obj = get("kustomization", ns, "cx").ok_or("cx missing")?;
        let c = condition(&obj, "Stalled").ok_or("not stalled")?;
        let msg = c["message"].as_str().unwrap_or_default().to_string();
        if c["reason"] == "DependencyCycle"
            && msg.contains("e2e-deps/cx")
            && msg.contains("e2e-deps/cy")
        {
            Ok(obj)
        } else {
            Err(format!("{c}"))
        }
    });
    assert!(
        get("configmap", ns, "cx").is_none(),
        "nothing of a cycle is applied"
    );
    // No hot loop: once the graph has settled (both members seen), the objects stay untouched and
    // the controller does not keep reconciling them.
    let _ = stalled;
    std::thread::sleep(Duration::from_secs(2));
    let stalled = get("kustomization", ns, "cx").expect("cx");
    let rv = stalled["metadata"]["resourceVersion"].clone();
    let count_before = reconcile_lines(ns, "cx");
    std::thread::sleep(Duration::from_secs(5));
    let again = get("kustomization", ns, "cx").expect("cx");
    assert_eq!(
        again["metadata"]["resourceVersion"], rv,
        "the cycle's status keeps being written"
    );
    let count_after = reconcile_lines(ns, "cx");
    assert!(count_before >= 1, "the cycle's reconcile is logged");
    assert!(
        count_after == count_before,
        "cx reconciled {} times in 5 s",
        count_after - count_before
    );

    // Breaking the cycle lets both through.
    apply(&kustomization(
        ns,
        "cy",
        "./cy",
        "  targetNamespace: e2e-deps\n",
    ));
    wait_ready("kustomization", ns, "cx");
}

/// Lines of the controller's log reporting a reconcile of Kustomization `ns/name`.
fn reconcile_lines(ns: &str, name: &str) -> usize {
    let log = std::fs::read_to_string(&env().log).unwrap_or_default();
    log.lines()
        .filter(|l| {
            l.contains("\"reconciled\"")
                && l.contains("\"Kustomization\"")
                && l.contains(&format!("\"namespace\":\"{ns}\""))
                && l.contains(&format!("\"name\":\"{name}\""))
        })
        .count()
}

#[test]
fn suspend_requested_at_and_deletion_prune() {
    let ns = "e2e-suspend";
    namespace(ns);
    let repo = Repo::new("suspend", &[("app/a.yaml", &configmap("a", "one"))]);
    apply(&git_repository(ns, "repo", &repo.url(), "1h"));
    apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: e2e-suspend\n",
    ));
    wait_ready("kustomization", ns, "app");

    let (ok, out) = kubectl(
        &[
            "patch",
            "kustomization",
            "-n",
            ns,
            "app",
            "--type=merge",
            "-p",
            r#"{"spec":{"suspend":true}}"#,
        ],
        None,
    );
    assert!(ok, "{out}");
    repo.write(&[("app/a.yaml", &configmap("a", "two"))]);
    let commit = repo.commit("two");
    request_reconcile("gitrepository", ns, "repo");
    eventually(
        "the source at the new commit",
        Duration::from_secs(30),
        || {
            let g = get("gitrepository", ns, "repo").ok_or("gone")?;
            let rev = g["status"]["artifact"]["revision"]
                .as_str()
                .unwrap_or_default();
            if rev.ends_with(&commit) {
                Ok(())
            } else {
                Err(rev.to_string())
            }
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        get("configmap", ns, "a").expect("a")["data"]["value"],
        "one",
        "suspended: not applied"
    );

    let (ok, out) = kubectl(
        &[
            "patch",
            "kustomization",
            "-n",
            ns,
            "app",
            "--type=merge",
            "-p",
            r#"{"spec":{"suspend":false}}"#,
        ],
        None,
    );
    assert!(ok, "{out}");
    eventually("applied after resume", Duration::from_secs(30), || {
        let a = get("configmap", ns, "a").ok_or("a missing")?;
        if a["data"]["value"] == "two" {
            Ok(())
        } else {
            Err(a["data"]["value"].to_string())
        }
    });

    request_reconcile("kustomization", ns, "app");
    eventually("requestedAt handled", Duration::from_secs(30), || {
        let ks = get("kustomization", ns, "app").ok_or("gone")?;
        let asked = ks["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"].clone();
        if ks["status"]["lastHandledReconcileAt"] == asked {
            Ok(())
        } else {
            Err(format!("{}", ks["status"]))
        }
    });

    let (ok, out) = kubectl(
        &[
            "delete",
            "kustomization",
            "-n",
            ns,
            "app",
            "--wait=true",
            "--timeout=60s",
        ],
        None,
    );
    assert!(ok, "{out}");
    eventually(
        "the Kustomization's objects pruned",
        Duration::from_secs(30),
        || {
            if get("configmap", ns, "a").is_none() {
                Ok(())
            } else {
                Err("a still there".into())
            }
        },
    );
}

#[test]
fn failures_are_reported_with_reason_and_no_secret() {
    let ns = "e2e-fail";
    namespace(ns);
    // A wrong password: the server requires credentials the Secret does not hold.
    let repo = Repo::new("private", &[("app/a.yaml", &configmap("a", "one"))]);
    env()
        .server
        .set(|b| b.basic = Some(("git".into(), "right-password".into())));
    apply(&format!(
        "apiVersion: v1
kind: Secret
metadata: {{name: creds, namespace: {ns}}}
stringData: {{username: git, password: s3cr3t-wrong-pw}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: private, namespace: {ns}}}
spec:
  interval: 1h
  url: {}
  ref: {{branch: main}}
  secretRef: {{name: creds}}
",
        repo.url()
    ));
    let obj = eventually("the fetch to fail", Duration::from_secs(30), || {
        let obj = get("gitrepository", ns, "private").ok_or("missing")?;
        match condition(&obj, "Ready") {
            Some(c) if c["status"] == "False" => Ok(obj),
            other => Err(format!("{other:?}")),
        }
    });
    env().server.set(|b| b.basic = None);
    let text = obj.to_string();
    assert!(!text.contains("s3cr3t-wrong-pw"), "{text}");
    let (_, events) = kubectl(&["get", "events", "-n", ns, "-o", "json"], None);
    assert!(!events.contains("s3cr3t-wrong-pw"), "{events}");
    let log = std::fs::read_to_string(&env().log).unwrap_or_default();
    assert!(!log.contains("s3cr3t-wrong-pw"));

    // An invalid manifest: BuildFailed naming the problem, nothing applied.
    let broken = Repo::new(
        "broken",
        &[
            ("app/good.yaml", &configmap("good", "1")),
            (
                "app/kustomization.yaml",
                "resources: [good.yaml, missing.yaml]\n",
            ),
        ],
    );
    apply(&git_repository(ns, "repo", &broken.url(), "1h"));
    apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: e2e-fail\n",
    ));
    let ks = eventually("BuildFailed", Duration::from_secs(60), || {
        let obj = get("kustomization", ns, "app").ok_or("missing")?;
        match condition(&obj, "Ready") {
            Some(c) if c["reason"] == "BuildFailed" => Ok(c),
            other => Err(format!("{other:?}")),
        }
    });
    assert!(
        ks["message"]
            .as_str()
            .unwrap_or_default()
            .contains("missing.yaml"),
        "{ks}"
    );
    assert!(
        get("configmap", ns, "good").is_none(),
        "nothing applied from a broken build"
    );
}

#[test]
fn substitute_from_configmap_and_secret() {
    let ns = "e2e-vars";
    namespace(ns);
    let repo = Repo::new(
        "vars",
        &[(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: vars\ndata:\n  region: ${region}\n  token: ${token}\n  inline: ${inline}\n  fallback: ${missing:=dflt}\n",
        )],
    );
    apply(&format!(
        "apiVersion: v1
kind: ConfigMap
metadata: {{name: cluster-vars, namespace: {ns}}}
data: {{region: eu-west, inline: from-configmap}}
---
apiVersion: v1
kind: Secret
metadata: {{name: cluster-secrets, namespace: {ns}}}
stringData: {{token: tok-123}}
"
    ));
    apply(&git_repository(ns, "repo", &repo.url(), "1h"));
    apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: e2e-vars
  postBuild:
    substitute: {inline: from-spec}
    substituteFrom:
    - {kind: ConfigMap, name: cluster-vars}
    - {kind: Secret, name: cluster-secrets}
    - {kind: ConfigMap, name: not-there, optional: true}
",
    ));
    wait_ready("kustomization", ns, "app");
    let cm = get("configmap", ns, "vars").expect("vars");
    assert_eq!(cm["data"]["region"], "eu-west");
    assert_eq!(cm["data"]["token"], "tok-123");
    assert_eq!(cm["data"]["inline"], "from-spec", "inline substitute wins");
    assert_eq!(cm["data"]["fallback"], "dflt");
}

#[test]
fn drift_is_repaired_within_seconds_not_at_the_interval() {
    let ns = "e2e-drift";
    namespace(ns);
    let repo = Repo::new(
        "drift",
        &[
            ("app/a.yaml", &configmap("a", "git")),
            ("app/b.yaml", &configmap("b", "git")),
        ],
    );
    apply(&git_repository(ns, "repo", &repo.url(), "1h"));
    // The interval is 10 minutes: only the drift watch can bring the objects back within the test.
    apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: e2e-drift\n",
    ));
    wait_ready("kustomization", ns, "app");
    std::thread::sleep(Duration::from_secs(1));

    let (ok, out) = kubectl(&["delete", "configmap", "-n", ns, "a"], None);
    assert!(ok, "{out}");
    let (ok, out) = kubectl(
        &[
            "patch",
            "configmap",
            "-n",
            ns,
            "b",
            "--type=merge",
            "-p",
            r#"{"data":{"value":"edited"}}"#,
        ],
        None,
    );
    assert!(ok, "{out}");
    let started = Instant::now();
    eventually("both objects repaired", Duration::from_secs(20), || {
        let a = get("configmap", ns, "a").ok_or("a still deleted")?;
        let b = get("configmap", ns, "b").ok_or("b missing")?;
        if a["data"]["value"] == "git" && b["data"]["value"] == "git" {
            Ok(())
        } else {
            Err(format!("a={} b={}", a["data"]["value"], b["data"]["value"]))
        }
    });
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "repair took {took:?}");
    let (_, events) = kubectl(&["get", "events", "-n", ns, "-o", "json"], None);
    assert!(
        events.contains("ConfigMap/e2e-drift/a created"),
        "the repair is reported: {events}"
    );
    // The drift itself is reported first, naming each object and who changed it.
    assert!(events.contains("DriftDetected"), "{events}");
    assert!(
        events.contains("ConfigMap/e2e-drift/a was deleted"),
        "{events}"
    );
    assert!(
        events.contains("ConfigMap/e2e-drift/b was changed by kubectl-patch"),
        "{events}"
    );
    wait_ready("kustomization", ns, "app");
}

#[test]
fn impersonation_denies_what_the_service_account_may_not_do() {
    let ns = "e2e-tenant";
    namespace(ns);
    let repo = Repo::new("tenant", &[("app/a.yaml", &configmap("a", "one"))]);
    // A ServiceAccount with no rights at all: applying as it must be refused by the API server.
    apply(&format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: limited, namespace: {ns}}}\n"
    ));
    apply(&git_repository(ns, "repo", &repo.url(), "1h"));
    apply(&kustomization(
        ns,
        "app",
        "./app",
        "  targetNamespace: e2e-tenant\n  serviceAccountName: limited\n",
    ));
    let ready = eventually("the apply refused", Duration::from_secs(60), || {
        let obj = get("kustomization", ns, "app").ok_or("missing")?;
        match condition(&obj, "Ready") {
            Some(c)
                if c["status"] == "False"
                    && c["message"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("forbidden") =>
            {
                Ok(c)
            }
            other => Err(format!("{other:?}")),
        }
    });
    assert!(
        ready["message"]
            .as_str()
            .unwrap_or_default()
            .contains("system:serviceaccount:e2e-tenant:limited"),
        "the message names the identity: {ready}"
    );
    assert!(
        get("configmap", ns, "a").is_none(),
        "nothing applied as the limited account"
    );

    // Granting the account edit rights in its namespace lets the next attempt through.
    apply(&format!(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: limited-edit, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}}
subjects: [{{kind: ServiceAccount, name: limited, namespace: {ns}}}]
"
    ));
    request_reconcile("kustomization", ns, "app");
    wait_ready("kustomization", ns, "app");
    assert!(get("configmap", ns, "a").is_some());
}
