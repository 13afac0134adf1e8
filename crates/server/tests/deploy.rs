//! The deployment files in `deploy/`, checked offline (neither Docker nor a
//! Kubernetes cluster runs here): every file parses, every `PORTCULLIS_*`
//! variable they set is a setting the server knows, the probes point at
//! real paths, the Kubernetes objects are whole and agree with each other
//! (selectors, ports, secrets, the autoscaler's target), and the image runs
//! as a non-root user with the workspace's Rust version.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &Path) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn s<'a>(y: &'a Yaml, what: &str) -> &'a str {
    y.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {y:?}"))
}

/// Every setting the server's configuration knows, as `PORTCULLIS_*`.
fn known_variables() -> BTreeSet<String> {
    portcullis_server::config::SETTINGS
        .iter()
        .map(|(key, _)| format!("PORTCULLIS_{}", key.to_ascii_uppercase()))
        .collect()
}

fn assert_known(var: &str, file: &str) {
    assert!(
        known_variables().contains(var),
        "{file} sets {var}, which is not a setting of the server"
    );
}

/// The paths the server routes (from its OpenAPI document).
fn api_paths() -> BTreeSet<String> {
    let doc = portcullis_http::openapi::document();
    doc["paths"].as_object().unwrap().keys().cloned().collect()
}

/// The Kubernetes objects of the kustomization, by kind.
fn objects() -> Vec<Yaml> {
    let dir = deploy().join("kubernetes");
    let k = &yaml(&dir.join("kustomization.yaml"))[0];
    assert_eq!(s(&k["kind"], "kind"), "Kustomization");
    let mut out = Vec::new();
    for r in k["resources"].as_vec().unwrap() {
        let file = dir.join(s(r, "resource"));
        assert!(file.is_file(), "the kustomization lists {}", file.display());
        out.extend(yaml(&file));
    }
    out
}

fn of_kind<'a>(objects: &'a [Yaml], kind: &str) -> &'a Yaml {
    objects
        .iter()
        .find(|o| o["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn kubernetes_objects_are_whole_and_agree() {
    let objects = objects();
    for o in &objects {
        let kind = s(&o["kind"], "kind");
        let api = s(&o["apiVersion"], "apiVersion");
        let expected = match kind {
            "Deployment" => "apps/v1",
            "Service" => "v1",
            "PodDisruptionBudget" => "policy/v1",
            "HorizontalPodAutoscaler" => "autoscaling/v2",
            other => panic!("unexpected kind {other}"),
        };
        assert_eq!(api, expected, "{kind}");
        assert_eq!(s(&o["metadata"]["name"], "name"), "portcullis");
    }
    let deployment = of_kind(&objects, "Deployment");
    let spec = &deployment["spec"];
    let labels = &spec["template"]["metadata"]["labels"];
    let selector = &spec["selector"]["matchLabels"];
    for (k, v) in selector.as_hash().unwrap() {
        assert_eq!(&labels[s(k, "label")], v, "the selector matches the pods");
    }
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let container = &pod["containers"][0];
    assert!(container["resources"]["requests"]["cpu"].as_str().is_some());
    assert!(
        container["resources"]["requests"]["memory"]
            .as_str()
            .is_some()
    );
    assert!(
        container["resources"]["limits"]["memory"]
            .as_str()
            .is_some()
    );
    let port_names: BTreeSet<&str> = container["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|p| s(&p["name"], "port name"))
        .collect();
    // Probes on real paths and a named port.
    let paths = api_paths();
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let get = &container[probe]["httpGet"];
        let path = s(&get["path"], probe);
        assert!(paths.contains(path), "{probe} checks {path}, not a route");
        assert!(
            port_names.contains(s(&get["port"], probe)),
            "{probe}'s port"
        );
    }
    assert_eq!(
        s(&container["readinessProbe"]["httpGet"]["path"], "ready"),
        "/health/ready"
    );
    // Settings the server knows; secrets from keys the example Secret has.
    let secret = &yaml(&deploy().join("kubernetes/secret.example.yaml"))[0];
    let secret_keys = secret["stringData"].as_hash().unwrap();
    let mut names = BTreeSet::new();
    for e in container["env"].as_vec().unwrap() {
        let name = s(&e["name"], "env name");
        assert_known(name, "deployment.yaml");
        names.insert(name);
        if let Some(key) = e["valueFrom"]["secretKeyRef"]["key"].as_str() {
            assert_eq!(
                s(&e["valueFrom"]["secretKeyRef"]["name"], "secret"),
                "portcullis"
            );
            assert!(
                secret_keys.contains_key(&Yaml::String(key.to_owned())),
                "{name} reads the key {key}, which the example Secret lacks"
            );
        }
    }
    for needed in [
        "PORTCULLIS_DATABASE_URL",
        "PORTCULLIS_REDIS_URL",
        "PORTCULLIS_MASTER_KEY",
        "PORTCULLIS_PUBLIC_URL",
    ] {
        assert!(names.contains(needed), "the Deployment sets no {needed}");
    }
    // The Service, the budget and the autoscaler point at the Deployment.
    let service = of_kind(&objects, "Service");
    for (k, v) in service["spec"]["selector"].as_hash().unwrap() {
        assert_eq!(&labels[s(k, "label")], v);
    }
    let target = s(&service["spec"]["ports"][0]["targetPort"], "targetPort");
    assert!(port_names.contains(target));
    let pdb = of_kind(&objects, "PodDisruptionBudget");
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], selector);
    let hpa = of_kind(&objects, "HorizontalPodAutoscaler");
    assert_eq!(
        s(&hpa["spec"]["scaleTargetRef"]["kind"], "kind"),
        "Deployment"
    );
    assert_eq!(
        s(&hpa["spec"]["scaleTargetRef"]["name"], "name"),
        "portcullis"
    );
    let min = hpa["spec"]["minReplicas"].as_i64().unwrap();
    assert!(
        min >= 2,
        "one replica cannot keep the budget's minimum while a pod moves"
    );
    assert!(hpa["spec"]["maxReplicas"].as_i64().unwrap() >= min);
}

#[test]
fn the_compose_file_runs_two_instances_on_postgres_and_redis_behind_nginx() {
    let compose = &yaml(&deploy().join("docker-compose.yml"))[0];
    let services = compose["services"].as_hash().unwrap();
    let names: BTreeSet<&str> = services.keys().map(|k| s(k, "service")).collect();
    for needed in ["postgres", "redis", "portcullis-a", "portcullis-b", "nginx"] {
        assert!(names.contains(needed), "no service {needed}");
    }
    // A service's field, or the one it takes from a `<<: *anchor` merge.
    let field = |service: &str, name: &str| -> Yaml {
        let own = &compose["services"][service];
        match &own[name] {
            Yaml::BadValue => own["<<"][name].clone(),
            v => v.clone(),
        }
    };
    for instance in ["portcullis-a", "portcullis-b"] {
        let env = field(instance, "environment");
        let env = env.as_hash().unwrap();
        for (k, _) in env {
            assert_known(s(k, "variable"), "docker-compose.yml");
        }
        for needed in [
            "PORTCULLIS_DATABASE_URL",
            "PORTCULLIS_REDIS_URL",
            "PORTCULLIS_MASTER_KEY",
            "PORTCULLIS_PUBLIC_URL",
        ] {
            assert!(
                env.contains_key(&Yaml::String(needed.to_owned())),
                "{instance} sets no {needed}"
            );
        }
        // Built from this repository's Dockerfile.
        let build = &field(instance, "build");
        let dockerfile = deploy()
            .join(s(&build["context"], "context"))
            .join(s(&build["dockerfile"], "dockerfile"));
        assert!(dockerfile.is_file(), "{}", dockerfile.display());
    }
    let nginx = read(&deploy().join("nginx.conf"));
    for instance in ["portcullis-a:8080", "portcullis-b:8080"] {
        assert!(
            nginx.contains(&format!("server {instance}")),
            "nginx balances {instance}"
        );
    }
}

#[test]
fn the_image_runs_the_release_binary_as_a_user_with_the_workspace_toolchain() {
    let dockerfile = read(&deploy().join("Dockerfile"));
    let workspace = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml"));
    let rust_version = workspace
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    assert!(
        dockerfile.contains(&format!("FROM rust:{rust_version}")),
        "the build stage uses Rust {rust_version}"
    );
    assert!(dockerfile.contains("cargo build --release --locked -p portcullis-server"));
    let user = dockerfile
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert!(
        !user.starts_with('0') && !user.starts_with("root"),
        "{user}"
    );
    for line in dockerfile.lines() {
        for word in line.split(|c: char| c.is_whitespace() || c == '=') {
            if word.starts_with("PORTCULLIS_") {
                assert_known(word, "Dockerfile");
            }
        }
    }
    assert!(dockerfile.contains(r#"CMD ["serve"]"#));
}
