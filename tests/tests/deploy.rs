//! The deployment files under `deploy/` and `docs/operations.md`: that they say what the
//! broker does. Every YAML file is parsed; the compose file, the Kubernetes manifests, the
//! Dockerfile, the Caddyfile and the systemd unit are checked against each other, against
//! the settings of the README's configuration table and against the metrics the broker
//! exports; the systemd unit is run through `systemd-analyze verify`, and the placeholder
//! secrets of the examples through the real binary, which must refuse them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

/// The repository root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `LATCHKEY_*` setting of the README's configuration table. A row such as
/// "| `LATCHKEY_MASTER_KEY` / `_FILE` |" names `LATCHKEY_MASTER_KEY` and
/// `LATCHKEY_MASTER_KEY_FILE`.
fn settings() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in read("README.md").lines() {
        let Some(rest) = line.strip_prefix("| `LATCHKEY_") else {
            continue;
        };
        let cell = format!("`LATCHKEY_{}", rest.split('|').next().unwrap_or_default());
        let mut last: Option<String> = None;
        for (i, token) in cell.split('`').enumerate() {
            if i % 2 == 0 {
                continue;
            }
            let name = match (token.strip_prefix('_'), &last) {
                (Some(suffix), Some(prev)) => format!("{prev}_{suffix}"),
                _ => token.to_owned(),
            };
            assert!(
                name.starts_with("LATCHKEY_")
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "README configuration table: cannot read a setting name out of {line:?}"
            );
            if token.starts_with("LATCHKEY_") {
                last = Some(token.to_owned());
            }
            names.insert(name);
        }
    }
    for expected in [
        "LATCHKEY_BIND",
        "LATCHKEY_MASTER_KEY_FILE",
        "LATCHKEY_TLS_KEY",
    ] {
        assert!(
            names.contains(expected),
            "README configuration table: {expected} not found among {names:?}"
        );
    }
    names
}

/// Every `LATCHKEY_…` word of `text` (a trailing `_`, as in `LATCHKEY_*`, is no name).
fn setting_words(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("LATCHKEY_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let word = tail[..end].trim_end_matches('_');
        if word.len() > "LATCHKEY".len() {
            out.insert(word.to_owned());
        }
        rest = &tail[end.max(1)..];
    }
    out
}

/// All documents of a YAML file, with `<<` merge keys applied.
fn yaml_docs(rel: &str) -> Vec<Value> {
    let text = read(rel);
    let mut docs = Vec::new();
    for de in serde_yaml_ng::Deserializer::from_str(&text) {
        let mut v: Value = serde::Deserialize::deserialize(de)
            .unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"));
        v.apply_merge()
            .unwrap_or_else(|e| panic!("{rel}: bad merge key: {e}"));
        if !v.is_null() {
            docs.push(v);
        }
    }
    docs
}

/// `v` at a dotted path (`spec.template.spec.containers.0`).
fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match part.parse::<usize>() {
            Ok(i) if cur.is_sequence() => cur.get(i)?,
            _ => cur.get(part)?,
        };
    }
    Some(cur)
}

/// `v` at `path`, or a failure naming `what` and the path.
fn must<'a>(v: &'a Value, path: &str, what: &str) -> &'a Value {
    get(v, path).unwrap_or_else(|| panic!("{what}: {path} is missing"))
}

/// A scalar as text (`"16"`, `16` and `true` alike).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn text_at(v: &Value, path: &str, what: &str) -> String {
    scalar(must(v, path, what)).unwrap_or_else(|| panic!("{what}: {path} is not a scalar"))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(s) => s.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

/// A compose `environment` (mapping or `KEY=value` list) as a map.
fn compose_env(v: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match v {
        Some(Value::Mapping(m)) => {
            for (k, v) in m {
                out.insert(scalar(k).unwrap(), scalar(v).unwrap_or_default());
            }
        }
        Some(Value::Sequence(s)) => {
            for item in s.iter().filter_map(scalar) {
                let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                out.insert(k.to_owned(), v.to_owned());
            }
        }
        _ => {}
    }
    out
}

/// A compose `env_file` as a list of paths.
fn env_files(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(s)) => s
            .iter()
            .map(|i| {
                scalar(i)
                    .or_else(|| i.get("path").and_then(scalar))
                    .unwrap()
            })
            .collect(),
        Some(other) => scalar(other).into_iter().collect(),
        None => Vec::new(),
    }
}

/// `KEY=value` lines of an env file, comments and blank lines left out.
fn env_file(rel: &str) -> BTreeMap<String, String> {
    read(rel)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("{rel}: {l:?} is not KEY=value"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// `30s`, `1m30s`, `30` → seconds.
fn duration_secs(s: &str) -> u64 {
    let mut total = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().unwrap_or_else(|_| panic!("bad duration {s:?}"));
        total += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => panic!("bad duration {s:?}"),
        };
        num.clear();
    }
    if !num.is_empty() {
        total += num.parse::<u64>().unwrap();
    }
    total
}

fn assert_real_settings(names: impl IntoIterator<Item = String>, place: &str) {
    let known = settings();
    for name in names {
        assert!(
            known.contains(&name),
            "{place}: {name} is not a setting in the README configuration table"
        );
    }
}

/// PostgreSQL's default `max_connections`: pools of every instance must fit under it.
const POSTGRES_MAX_CONNECTIONS: u64 = 100;

// ---------------------------------------------------------------------------------------
// compose

#[test]
fn compose_runs_two_instances_on_postgres_behind_a_tls_proxy() {
    const FILE: &str = "deploy/compose.yaml";
    let docs = yaml_docs(FILE);
    assert_eq!(docs.len(), 1, "{FILE}: expected one YAML document");
    let compose = &docs[0];
    let services = must(compose, "services", FILE)
        .as_mapping()
        .expect("services is a mapping");
    let service = |name: &str| {
        services
            .get(name)
            .unwrap_or_else(|| panic!("{FILE}: no service {name:?}"))
    };

    // PostgreSQL with a health check and a volume for its data.
    let pg = service("postgres");
    let image = text_at(pg, "image", "postgres");
    assert!(
        image.starts_with("postgres:16"),
        "{FILE}: postgres image is {image:?}, want postgres:16"
    );
    let pg_check = strings(must(pg, "healthcheck.test", "postgres")).join(" ");
    assert!(
        pg_check.contains("pg_isready"),
        "{FILE}: postgres health check {pg_check:?} does not run pg_isready"
    );
    assert!(
        strings(must(pg, "volumes", "postgres"))
            .iter()
            .any(|v| v.ends_with(":/var/lib/postgresql/data")),
        "{FILE}: postgres keeps its data in no volume"
    );

    // The serving instances: every service that runs `serve`.
    let serving: Vec<(&str, &Value)> = services
        .iter()
        .filter(|(_, s)| s.get("command").map(strings).unwrap_or_default() == ["serve"])
        .map(|(k, s)| (k.as_str().unwrap(), s))
        .collect();
    let names: Vec<&str> = serving.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["latchkey-a", "latchkey-b"],
        "{FILE}: the services running `serve`"
    );

    let networks = must(compose, "networks", FILE);
    let (net_name, net) = networks
        .as_mapping()
        .and_then(|m| m.iter().next())
        .unwrap_or_else(|| panic!("{FILE}: no network"));
    let net_name = net_name.as_str().unwrap();
    let subnet = text_at(net, "ipam.config.0.subnet", "the compose network");

    let first_env = compose_env(serving[0].1.get("environment"));
    let first_files = env_files(serving[0].1.get("env_file"));
    for (name, svc) in &serving {
        let what = format!("{FILE}: {name}");
        let env = compose_env(svc.get("environment"));
        let files = env_files(svc.get("env_file"));
        assert_eq!(
            files, first_files,
            "{what}: env_file differs from latchkey-a's"
        );
        assert_eq!(
            env, first_env,
            "{what}: environment differs from latchkey-a's"
        );
        assert_real_settings(env.keys().cloned(), &what);

        // Shared secrets come from the env file, never from the compose file itself.
        for secret in [
            "LATCHKEY_DATABASE_URL",
            "LATCHKEY_MASTER_KEY",
            "LATCHKEY_ADMIN_TOKEN",
        ] {
            assert!(
                !env.contains_key(secret),
                "{what}: {secret} is set in compose.yaml, not the env file"
            );
            let found = files.iter().any(|f| {
                let example = format!("deploy/{f}.example");
                env_file(&example).contains_key(secret)
            });
            assert!(
                found,
                "{what}: {secret} is in none of its env files {files:?} (as *.example)"
            );
        }

        let issuer = env
            .get("LATCHKEY_ISSUER")
            .unwrap_or_else(|| panic!("{what}: no LATCHKEY_ISSUER"));
        assert!(
            issuer.starts_with("https://"),
            "{what}: LATCHKEY_ISSUER {issuer:?} is not https"
        );
        assert_eq!(
            env.get("LATCHKEY_TRUSTED_PROXIES"),
            Some(&subnet),
            "{what}: LATCHKEY_TRUSTED_PROXIES must be the compose network {subnet}"
        );
        let pool: u64 = env
            .get("LATCHKEY_DB_MAX_CONNECTIONS")
            .map_or(16, |v| v.parse().unwrap());
        assert!(
            pool * serving.len() as u64 <= POSTGRES_MAX_CONNECTIONS,
            "{what}: {} instances × {pool} connections exceed PostgreSQL's {POSTGRES_MAX_CONNECTIONS}",
            serving.len()
        );

        let check = strings(must(svc, "healthcheck.test", &what)).join(" ");
        assert!(
            check.contains("http://127.0.0.1:8080/readyz"),
            "{what}: health check {check:?} does not ask /readyz on 8080"
        );
        assert_eq!(
            text_at(svc, "depends_on.postgres.condition", &what),
            "service_healthy",
            "{what}: must wait for a healthy postgres"
        );
        if services.contains_key("latchkey-migrate") {
            assert_eq!(
                text_at(svc, "depends_on.latchkey-migrate.condition", &what),
                "service_completed_successfully",
                "{what}: must wait for the migrations"
            );
        }
        let grace = duration_secs(&text_at(svc, "stop_grace_period", &what));
        assert!(
            grace >= 25,
            "{what}: stop_grace_period {grace}s is shorter than the 20 s drain plus margin"
        );
        assert!(
            strings(must(svc, "networks", &what)).contains(&net_name.to_owned()),
            "{what}: not on network {net_name}"
        );
        let dockerfile = text_at(svc, "build.dockerfile", &what);
        let context = text_at(svc, "build.context", &what);
        let built = root().join("deploy").join(&context).join(&dockerfile);
        assert!(
            built.is_file(),
            "{what}: build.dockerfile {} does not exist",
            built.display()
        );
        assert!(
            get(svc, "ports").is_none(),
            "{what}: publishes ports; only the proxy should"
        );
    }

    if let Some(migrate) = services.get("latchkey-migrate") {
        assert_eq!(
            strings(must(migrate, "command", "latchkey-migrate")),
            ["migrate"]
        );
        assert_eq!(
            env_files(migrate.get("env_file")),
            first_files,
            "{FILE}: latchkey-migrate env_file"
        );
    }

    // The proxy: publishes 443, mounts the Caddyfile, waits for both instances.
    let proxy = service("proxy");
    let image = text_at(proxy, "image", "proxy");
    assert!(
        image.starts_with("caddy:2"),
        "{FILE}: proxy image is {image:?}, want caddy:2"
    );
    assert!(
        strings(must(proxy, "ports", "proxy"))
            .iter()
            .any(|p| p == "443:443"),
        "{FILE}: proxy does not publish 443"
    );
    assert!(
        strings(must(proxy, "volumes", "proxy"))
            .iter()
            .any(|v| v.starts_with("./Caddyfile:/etc/caddy/Caddyfile")),
        "{FILE}: proxy does not mount ./Caddyfile"
    );
    for (name, _) in &serving {
        assert_eq!(
            text_at(proxy, &format!("depends_on.{name}.condition"), "proxy"),
            "service_healthy",
            "{FILE}: proxy must wait for {name} to be healthy"
        );
    }
    assert!(
        strings(must(proxy, "networks", "proxy")).contains(&net_name.to_owned()),
        "{FILE}: proxy is not on {net_name}, whose range is the trusted one"
    );
    assert!(
        subnet.parse::<std::net::IpAddr>().is_err() && subnet.contains('/'),
        "{FILE}: subnet {subnet:?} is not a CIDR range"
    );
}

#[test]
fn compose_env_examples_agree() {
    let latchkey = env_file("deploy/latchkey.env.example");
    let postgres = env_file("deploy/postgres.env.example");
    assert_real_settings(latchkey.keys().cloned(), "deploy/latchkey.env.example");
    let url: url::Url = latchkey["LATCHKEY_DATABASE_URL"]
        .parse()
        .expect("LATCHKEY_DATABASE_URL in deploy/latchkey.env.example is a URL");
    assert_eq!(
        url.scheme(),
        "postgres",
        "deploy/latchkey.env.example: database URL scheme"
    );
    assert_eq!(
        url.host_str(),
        Some("postgres"),
        "database URL host must be the compose service `postgres`"
    );
    assert_eq!(url.port(), Some(5432), "database URL port");
    assert_eq!(
        url.username(),
        postgres["POSTGRES_USER"],
        "database URL user vs POSTGRES_USER"
    );
    assert_eq!(
        url.password(),
        Some(postgres["POSTGRES_PASSWORD"].as_str()),
        "database URL password vs POSTGRES_PASSWORD"
    );
    assert_eq!(
        url.path(),
        format!("/{}", postgres["POSTGRES_DB"]),
        "database URL database vs POSTGRES_DB"
    );
    let ignored = read("deploy/.gitignore");
    assert!(
        ignored.lines().any(|l| l.trim() == "*.env"),
        "deploy/.gitignore must keep filled-in *.env files out of git"
    );
}

#[test]
fn caddy_balances_both_instances_on_readyz() {
    let caddy = read("deploy/Caddyfile");
    let lines: Vec<&str> = caddy
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let site = lines.first().expect("Caddyfile has a site block");
    let issuer = compose_env(
        yaml_docs("deploy/compose.yaml")[0]
            .get("services")
            .and_then(|s| s.get("latchkey-a"))
            .and_then(|s| s.get("environment")),
    )["LATCHKEY_ISSUER"]
        .clone();
    let host = url::Url::parse(&issuer)
        .unwrap()
        .host_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        site.trim_end_matches('{').trim(),
        host,
        "Caddyfile site address must be the host of LATCHKEY_ISSUER ({issuer})"
    );
    let upstreams: BTreeSet<&str> = lines
        .iter()
        .find_map(|l| l.strip_prefix("reverse_proxy "))
        .expect("Caddyfile has a reverse_proxy")
        .trim_end_matches('{')
        .split_whitespace()
        .collect();
    assert_eq!(
        upstreams,
        BTreeSet::from(["latchkey-a:8080", "latchkey-b:8080"]),
        "Caddyfile reverse_proxy upstreams"
    );
    assert!(
        lines.contains(&"health_uri /readyz"),
        "Caddyfile: no active health check on /readyz"
    );
    assert!(
        lines.contains(&"tls internal"),
        "Caddyfile: `tls internal` for local use is missing"
    );
}

// ---------------------------------------------------------------------------------------
// Kubernetes

/// Every manifest under deploy/kubernetes (kustomization.yaml aside), by kind.
fn manifests() -> BTreeMap<String, Vec<(String, Value)>> {
    let dir = root().join("deploy/kubernetes");
    let mut by_kind: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    files.sort();
    for name in files {
        if name == "kustomization.yaml" {
            continue;
        }
        let rel = format!("deploy/kubernetes/{name}");
        for doc in yaml_docs(&rel) {
            let kind = text_at(&doc, "kind", &rel);
            must(&doc, "apiVersion", &rel);
            must(&doc, "metadata.name", &rel);
            assert!(
                get(&doc, "metadata.namespace").is_none(),
                "{rel}: manifests are namespace-less; drop metadata.namespace"
            );
            by_kind.entry(kind).or_default().push((rel.clone(), doc));
        }
    }
    by_kind
}

fn one<'a>(m: &'a BTreeMap<String, Vec<(String, Value)>>, kind: &str) -> &'a Value {
    let list = m.get(kind).map(Vec::as_slice).unwrap_or_default();
    assert_eq!(
        list.len(),
        1,
        "deploy/kubernetes: want exactly one {kind}, found {}",
        list.len()
    );
    &list[0].1
}

fn name_of(v: &Value) -> String {
    text_at(v, "metadata.name", "manifest")
}

/// Whether every pair of `selector` is among `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let sel = selector.as_mapping().expect("selector is a mapping");
    !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A probe's or Service's port (a number or a container port's name) as a number.
fn resolve_port(port: &Value, container: &Value) -> i64 {
    if let Some(n) = port.as_i64() {
        return n;
    }
    let name = port.as_str().expect("port is a number or a name");
    container
        .get("ports")
        .and_then(Value::as_sequence)
        .and_then(|ps| {
            ps.iter()
                .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
        })
        .and_then(|p| p.get("containerPort"))
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("container port named {name:?} does not exist"))
}

#[test]
fn kubernetes_manifests_fit_together() {
    let m = manifests();
    let deploy = one(&m, "Deployment");
    let what = "deploy/kubernetes Deployment";
    assert_eq!(text_at(deploy, "apiVersion", what), "apps/v1");
    assert_eq!(
        text_at(deploy, "spec.replicas", what),
        "2",
        "{what}: replicas"
    );
    let labels = must(deploy, "spec.template.metadata.labels", what);
    assert!(
        selects(must(deploy, "spec.selector.matchLabels", what), labels),
        "{what}: spec.selector does not match the pod template's labels"
    );
    let pod = must(deploy, "spec.template.spec", what);
    let containers = must(pod, "containers", what).as_sequence().unwrap();
    assert_eq!(containers.len(), 1, "{what}: one container");
    let c = &containers[0];

    // Port and probes.
    let ports: Vec<i64> = must(c, "ports", what)
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|p| p.get("containerPort").and_then(Value::as_i64))
        .collect();
    assert_eq!(ports, [8080], "{what}: container ports");
    for (probe, path) in [
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
        ("startupProbe", "/healthz"),
    ] {
        let p = must(c, probe, what);
        assert_eq!(
            text_at(p, "httpGet.path", probe),
            path,
            "{what}: {probe} path"
        );
        assert_eq!(
            resolve_port(must(p, "httpGet.port", probe), c),
            8080,
            "{what}: {probe} port"
        );
    }

    // Security.
    assert_eq!(
        must(pod, "securityContext.runAsNonRoot", what).as_bool(),
        Some(true),
        "{what}: pod runAsNonRoot"
    );
    let uid = must(pod, "securityContext.runAsUser", what)
        .as_i64()
        .unwrap();
    assert_eq!(
        uid.to_string(),
        dockerfile_uid(),
        "{what}: runAsUser differs from the Dockerfile's USER"
    );
    let sc = must(c, "securityContext", what);
    assert_eq!(
        sc.get("readOnlyRootFilesystem").and_then(Value::as_bool),
        Some(true),
        "{what}: readOnlyRootFilesystem"
    );
    assert_eq!(
        sc.get("allowPrivilegeEscalation").and_then(Value::as_bool),
        Some(false),
        "{what}: allowPrivilegeEscalation"
    );
    assert_eq!(
        strings(must(sc, "capabilities.drop", what)),
        ["ALL"],
        "{what}: capabilities.drop"
    );
    must(
        c,
        "resources.requests.cpu",
        "the HPA's CPU utilisation needs a CPU request",
    );
    must(c, "resources.limits.memory", what);

    // Shutdown: the preStop sleep and the broker's 20 s drain fit in the grace period.
    let grace = must(pod, "terminationGracePeriodSeconds", what)
        .as_i64()
        .unwrap();
    let pre_stop = strings(must(c, "lifecycle.preStop.exec.command", what));
    assert_eq!(
        pre_stop.first().map(String::as_str),
        Some("sleep"),
        "{what}: preStop is not a sleep"
    );
    let sleep: i64 = pre_stop[1].parse().unwrap();
    assert!(
        grace >= 25 && grace >= sleep + 20,
        "{what}: terminationGracePeriodSeconds {grace} < preStop {sleep} s + 20 s drain"
    );

    // Settings: every name is real, and envFrom points at the ConfigMap and the Secret.
    let cm = one(&m, "ConfigMap");
    let secret = one(&m, "Secret");
    let env_names: Vec<String> = c
        .get("env")
        .and_then(Value::as_sequence)
        .map(|e| e.iter().map(|v| text_at(v, "name", "env")).collect())
        .unwrap_or_default();
    assert_real_settings(env_names, what);
    let cm_data = must(cm, "data", "ConfigMap").as_mapping().unwrap();
    assert_real_settings(
        cm_data.keys().filter_map(scalar),
        "deploy/kubernetes ConfigMap",
    );
    let secret_data = get(secret, "stringData")
        .or_else(|| get(secret, "data"))
        .and_then(Value::as_mapping)
        .expect("Secret has stringData or data");
    let secret_keys: BTreeSet<String> = secret_data.keys().filter_map(scalar).collect();
    assert_real_settings(secret_keys.clone(), "deploy/kubernetes Secret");
    for key in [
        "LATCHKEY_DATABASE_URL",
        "LATCHKEY_MASTER_KEY",
        "LATCHKEY_ADMIN_TOKEN",
    ] {
        assert!(
            secret_keys.contains(key),
            "deploy/kubernetes Secret: {key} missing"
        );
        assert!(
            !cm_data.contains_key(key),
            "deploy/kubernetes ConfigMap: {key} is a secret"
        );
    }
    let refs: BTreeSet<(String, String)> = must(c, "envFrom", what)
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|r| {
            [("configMapRef", "ConfigMap"), ("secretRef", "Secret")]
                .into_iter()
                .filter_map(|(k, kind)| Some((kind.to_owned(), text_at(r.get(k)?, "name", k))))
        })
        .collect();
    let want = BTreeSet::from([
        ("ConfigMap".to_owned(), name_of(cm)),
        ("Secret".to_owned(), name_of(secret)),
    ]);
    assert_eq!(
        refs, want,
        "{what}: envFrom must name the ConfigMap and the Secret"
    );
    let cfg = |k: &str| {
        scalar(
            cm_data
                .get(k)
                .unwrap_or_else(|| panic!("ConfigMap: {k} missing")),
        )
        .unwrap()
    };
    assert_eq!(
        cfg("LATCHKEY_BIND"),
        "0.0.0.0:8080",
        "ConfigMap LATCHKEY_BIND"
    );
    assert_eq!(
        cfg("LATCHKEY_LOG_FORMAT"),
        "json",
        "ConfigMap LATCHKEY_LOG_FORMAT"
    );
    for net in cfg("LATCHKEY_TRUSTED_PROXIES").split(',') {
        assert!(
            net.trim().contains('/'),
            "ConfigMap LATCHKEY_TRUSTED_PROXIES: {net:?} is not a CIDR range"
        );
    }
    let issuer =
        url::Url::parse(&cfg("LATCHKEY_ISSUER")).expect("ConfigMap LATCHKEY_ISSUER is a URL");
    assert_eq!(
        issuer.scheme(),
        "https",
        "ConfigMap LATCHKEY_ISSUER must be https"
    );

    // Service → the container's 8080.
    let svc = one(&m, "Service");
    assert!(
        selects(must(svc, "spec.selector", "Service"), labels),
        "Service selector does not select the Deployment's pods"
    );
    let svc_ports = must(svc, "spec.ports", "Service").as_sequence().unwrap();
    assert_eq!(svc_ports.len(), 1, "Service: one port");
    assert_eq!(
        text_at(&svc_ports[0], "port", "Service"),
        "80",
        "Service port"
    );
    assert_eq!(
        resolve_port(must(&svc_ports[0], "targetPort", "Service"), c),
        8080,
        "Service targetPort"
    );

    // Ingress → the Service, on the issuer's host, with TLS.
    let ing = one(&m, "Ingress");
    let rule = must(ing, "spec.rules.0", "Ingress");
    assert_eq!(
        Some(text_at(rule, "host", "Ingress").as_str()),
        issuer.host_str(),
        "Ingress host vs LATCHKEY_ISSUER"
    );
    assert!(
        strings(must(ing, "spec.tls.0.hosts", "Ingress"))
            .contains(&issuer.host_str().unwrap().to_owned()),
        "Ingress: no TLS for the issuer's host"
    );
    let backend = must(rule, "http.paths.0.backend.service", "Ingress");
    assert_eq!(
        text_at(backend, "name", "Ingress backend"),
        name_of(svc),
        "Ingress backend service"
    );
    let port = must(backend, "port", "Ingress backend");
    assert!(
        svc_ports.iter().any(
            |p| (port.get("name").is_some() && p.get("name") == port.get("name"))
                || (port.get("number").is_some() && p.get("port") == port.get("number"))
        ),
        "Ingress backend port {port:?} is not a port of the Service"
    );

    // HPA and PDB act on the Deployment.
    let hpa = one(&m, "HorizontalPodAutoscaler");
    assert_eq!(text_at(hpa, "apiVersion", "HPA"), "autoscaling/v2");
    assert_eq!(
        text_at(hpa, "spec.scaleTargetRef.kind", "HPA"),
        "Deployment"
    );
    assert_eq!(
        text_at(hpa, "spec.scaleTargetRef.name", "HPA"),
        name_of(deploy),
        "HPA scaleTargetRef"
    );
    let min = must(hpa, "spec.minReplicas", "HPA").as_u64().unwrap();
    let max = must(hpa, "spec.maxReplicas", "HPA").as_u64().unwrap();
    assert!(min >= 2 && max >= min, "HPA: replicas {min}..{max}");
    let metric = must(hpa, "spec.metrics.0.resource", "HPA");
    assert_eq!(text_at(metric, "name", "HPA"), "cpu");
    assert_eq!(
        text_at(metric, "target.averageUtilization", "HPA"),
        "70",
        "HPA CPU target"
    );
    let pool: u64 = cm_data
        .get("LATCHKEY_DB_MAX_CONNECTIONS")
        .and_then(scalar)
        .map_or(16, |v| v.parse().unwrap());
    assert!(
        max * pool < POSTGRES_MAX_CONNECTIONS,
        "HPA maxReplicas {max} × LATCHKEY_DB_MAX_CONNECTIONS {pool} reaches PostgreSQL's {POSTGRES_MAX_CONNECTIONS} connections"
    );
    let pdb = one(&m, "PodDisruptionBudget");
    assert_eq!(text_at(pdb, "apiVersion", "PDB"), "policy/v1");
    assert_eq!(
        text_at(pdb, "spec.minAvailable", "PDB"),
        "1",
        "PDB minAvailable"
    );
    assert!(
        selects(must(pdb, "spec.selector.matchLabels", "PDB"), labels),
        "PDB selector does not select the Deployment's pods"
    );

    // The migrate Job runs the same image with the same settings.
    if let Some(jobs) = m.get("Job") {
        for (rel, job) in jobs {
            let jc = must(job, "spec.template.spec.containers.0", rel);
            assert_eq!(strings(must(jc, "args", rel)), ["migrate"], "{rel}: args");
            assert_eq!(
                jc.get("image"),
                c.get("image"),
                "{rel}: image differs from the Deployment's"
            );
            assert_eq!(
                jc.get("envFrom"),
                c.get("envFrom"),
                "{rel}: envFrom differs from the Deployment's"
            );
            assert_eq!(
                must(job, "spec.template.spec.securityContext.runAsNonRoot", rel).as_bool(),
                Some(true),
                "{rel}: runAsNonRoot"
            );
        }
    }
}

#[test]
fn kustomization_lists_the_manifests() {
    let k = &yaml_docs("deploy/kubernetes/kustomization.yaml")[0];
    let listed: BTreeSet<String> = strings(must(k, "resources", "kustomization.yaml"))
        .into_iter()
        .collect();
    for r in &listed {
        assert!(
            root().join("deploy/kubernetes").join(r).is_file(),
            "kustomization.yaml lists {r}, which does not exist"
        );
    }
    for (kind, docs) in manifests() {
        for (rel, _) in docs {
            let file = rel.trim_start_matches("deploy/kubernetes/").to_owned();
            // A Job's template is immutable: it is applied by hand (see the file).
            if kind != "Job" {
                assert!(
                    listed.contains(&file),
                    "kustomization.yaml does not list {file} ({kind})"
                );
            }
        }
    }
    let image = text_at(k, "images.0.name", "kustomization.yaml");
    let m = manifests();
    assert_eq!(
        text_at(
            one(&m, "Deployment"),
            "spec.template.spec.containers.0.image",
            "Deployment"
        ),
        image,
        "kustomization.yaml images[0].name must be the Deployment's image"
    );
}

// ---------------------------------------------------------------------------------------
// Dockerfile

/// Dockerfile instructions `(KEYWORD, arguments)`, continuation lines joined and comment
/// lines dropped.
fn dockerfile() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in read("deploy/Dockerfile").lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                let (k, v) = cur
                    .trim()
                    .split_once(char::is_whitespace)
                    .unwrap_or((cur.trim(), ""));
                out.push((k.to_ascii_uppercase(), v.trim().to_owned()));
                cur.clear();
            }
        }
    }
    out
}

/// The instructions of the final stage.
fn final_stage() -> Vec<(String, String)> {
    let all = dockerfile();
    let start = all
        .iter()
        .rposition(|(k, _)| k == "FROM")
        .expect("Dockerfile has a FROM");
    all[start..].to_vec()
}

/// The numeric uid of the final stage's USER.
fn dockerfile_uid() -> String {
    let user = final_stage()
        .into_iter()
        .rfind(|(k, _)| k == "USER")
        .expect("Dockerfile: the final stage sets no USER (it would run as root)")
        .1;
    let uid = user.split(':').next().unwrap().to_owned();
    assert!(
        uid.parse::<u32>().is_ok_and(|u| u != 0),
        "Dockerfile: USER {user:?} must be a numeric non-root uid (runAsNonRoot cannot check a name)"
    );
    uid
}

#[test]
fn dockerfile_builds_and_runs_the_broker_as_non_root() {
    let all = dockerfile();
    let stage = final_stage();
    let find = |k: &str| {
        stage
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };

    let froms: Vec<&String> = all
        .iter()
        .filter(|(k, _)| k == "FROM")
        .map(|(_, v)| v)
        .collect();
    assert!(
        froms.len() >= 2,
        "Dockerfile: want a multi-stage build, found {} FROM",
        froms.len()
    );
    assert!(
        all.iter()
            .any(|(k, v)| k == "RUN" && v.contains("cargo build --release --locked -p latchkey")),
        "Dockerfile: no `cargo build --release --locked -p latchkey`"
    );
    assert!(
        !stage[0].1.starts_with("rust:"),
        "Dockerfile: the runtime stage is the Rust toolchain image"
    );

    assert_eq!(dockerfile_uid(), "10001", "Dockerfile: USER");
    assert!(
        find("EXPOSE")
            .iter()
            .any(|e| e.split_whitespace().any(|p| p == "8080" || p == "8080/tcp")),
        "Dockerfile: does not EXPOSE 8080"
    );
    assert_eq!(find("STOPSIGNAL"), ["SIGTERM"], "Dockerfile: STOPSIGNAL");
    assert_eq!(
        find("ENTRYPOINT"),
        [r#"["latchkey"]"#],
        "Dockerfile: ENTRYPOINT"
    );
    assert_eq!(find("CMD"), [r#"["serve"]"#], "Dockerfile: CMD");

    let env: BTreeMap<String, String> = find("ENV")
        .iter()
        .flat_map(|e| e.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("ENV KEY=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    assert_real_settings(env.keys().cloned(), "Dockerfile ENV");
    assert_eq!(
        env.get("LATCHKEY_BIND").map(String::as_str),
        Some("0.0.0.0:8080"),
        "Dockerfile: LATCHKEY_BIND"
    );
    assert_eq!(
        env.get("LATCHKEY_LOG_FORMAT").map(String::as_str),
        Some("json"),
        "Dockerfile: LATCHKEY_LOG_FORMAT"
    );
    let data_dir = env
        .get("LATCHKEY_DATA_DIR")
        .expect("Dockerfile: LATCHKEY_DATA_DIR");
    assert!(
        find("VOLUME").iter().any(|v| v.contains(data_dir.as_str())),
        "Dockerfile: LATCHKEY_DATA_DIR {data_dir} is no VOLUME"
    );

    let check = find("HEALTHCHECK");
    assert_eq!(check.len(), 1, "Dockerfile: one HEALTHCHECK");
    assert!(
        check[0].contains("http://127.0.0.1:8080/healthz"),
        "Dockerfile: HEALTHCHECK {:?} does not ask /healthz on 8080",
        check[0]
    );
    // The tool the check runs must be in the runtime image.
    let tool = check[0]
        .split("CMD")
        .nth(1)
        .and_then(|c| {
            c.trim()
                .trim_start_matches('[')
                .split(['"', ' ', ','])
                .find(|s| !s.is_empty())
        })
        .expect("HEALTHCHECK CMD")
        .to_owned();
    assert!(
        find("RUN")
            .iter()
            .any(|r| r.contains("apt-get install") && r.split_whitespace().any(|w| w == tool)),
        "Dockerfile: HEALTHCHECK runs {tool:?}, which the runtime stage does not install"
    );
}

// ---------------------------------------------------------------------------------------
// systemd

/// `(section, key, value)` of a unit file.
fn unit(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.to_owned();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("unit line {line:?}"));
        out.push((section.clone(), k.trim().to_owned(), v.trim().to_owned()));
    }
    out
}

#[test]
fn systemd_unit_is_hardened_and_verifies() {
    const FILE: &str = "deploy/systemd/latchkey.service";
    let text = read(FILE);
    let entries = unit(&text);
    let service = |k: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|(s, key, _)| s == "Service" && key == k)
            .map(|(_, _, v)| v.clone())
            .collect()
    };
    for (key, want) in [
        ("User", "latchkey"),
        ("StateDirectory", "latchkey"),
        ("EnvironmentFile", "-/etc/latchkey/latchkey.env"),
        ("ExecStart", "/usr/local/bin/latchkey serve"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("CapabilityBoundingSet", ""),
        ("Restart", "on-failure"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(service(key), [want], "{FILE}: [Service] {key}=");
    }
    let families: BTreeSet<String> = service("RestrictAddressFamilies")
        .iter()
        .flat_map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .collect();
    assert_eq!(
        families,
        BTreeSet::from(["AF_INET".into(), "AF_INET6".into(), "AF_UNIX".into()]),
        "{FILE}: RestrictAddressFamilies"
    );
    assert!(
        service("SystemCallFilter")
            .iter()
            .any(|v| v == "@system-service"),
        "{FILE}: SystemCallFilter=@system-service missing"
    );
    let stop: u64 = service("TimeoutStopSec")
        .first()
        .map(|v| duration_secs(v))
        .expect("TimeoutStopSec");
    assert!(
        stop >= 25,
        "{FILE}: TimeoutStopSec={stop} is shorter than the 20 s drain plus margin"
    );
    let env: BTreeMap<String, String> = service("Environment")
        .iter()
        .flat_map(|v| {
            v.split_whitespace()
                .map(|kv| {
                    kv.trim_matches('"')
                        .split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .unwrap()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert_real_settings(env.keys().cloned(), FILE);
    assert_eq!(
        env.get("LATCHKEY_DATA_DIR").map(String::as_str),
        Some("/var/lib/latchkey"),
        "{FILE}: LATCHKEY_DATA_DIR"
    );
    assert_real_settings(
        env_file("deploy/systemd/latchkey.env.example").into_keys(),
        "deploy/systemd/latchkey.env.example",
    );

    let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.is_file());
    let Some(analyze) = analyze else {
        eprintln!("systemd-analyze is not installed: {FILE} was not verified");
        return;
    };
    // The unit names /usr/local/bin/latchkey, where it is installed; verify a copy that
    // runs the binary built here, so that the only difference is that path.
    let binary = latchkey_tests::harness::binary();
    let dir = latchkey_tests::harness::temp_dir("latchkey-unit");
    let copy = dir.join("latchkey.service");
    let rewritten = text.replace(
        "ExecStart=/usr/local/bin/latchkey ",
        &format!("ExecStart={} ", binary.display()),
    );
    assert_ne!(rewritten, text, "{FILE}: ExecStart was not rewritten");
    std::fs::write(&copy, rewritten).unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify {FILE} (ExecStart rewritten to {}): {stderr}",
        binary.display()
    );
    // The file as shipped: the only complaint allowed is a missing /usr/local/bin/latchkey.
    let out = Command::new(analyze)
        .arg("verify")
        .arg(root().join(FILE))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.contains("/usr/local/bin/latchkey")
                && !Path::new("/usr/local/bin/latchkey").exists(),
            "systemd-analyze verify {FILE}: {line}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------------------------------
// Placeholders and documentation

/// Runs `latchkey migrate` with only `env` set; its exit code and standard error.
fn migrate_with(env: &BTreeMap<String, String>) -> (Option<i32>, String) {
    let dir = latchkey_tests::harness::temp_dir("latchkey-placeholders");
    let out = Command::new(latchkey_tests::harness::binary())
        .arg("migrate")
        .env_clear()
        .env("LATCHKEY_DATA_DIR", &dir)
        .envs(env)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn placeholder_secrets_are_refused_at_start() {
    let m = manifests();
    let secret = one(&m, "Secret");
    let k8s: BTreeMap<String, String> = must(secret, "stringData", "Secret")
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (scalar(k).unwrap(), scalar(v).unwrap()))
        .collect();
    let real_key = "ab".repeat(32);
    for (place, env) in [
        (
            "deploy/latchkey.env.example",
            env_file("deploy/latchkey.env.example"),
        ),
        ("deploy/kubernetes Secret", k8s),
    ] {
        let (code, stderr) = migrate_with(&env);
        assert_eq!(
            code,
            Some(2),
            "{place}: the placeholders were not refused as settings: {stderr}"
        );
        assert!(
            stderr.contains("LATCHKEY_MASTER_KEY"),
            "{place}: the placeholder master key was not the one refused: {stderr}"
        );
        let mut with_key = env.clone();
        with_key.insert("LATCHKEY_MASTER_KEY".into(), real_key.clone());
        let (code, stderr) = migrate_with(&with_key);
        assert_eq!(
            code,
            Some(2),
            "{place}: the placeholder admin token was accepted: {stderr}"
        );
        assert!(
            stderr.contains("LATCHKEY_ADMIN_TOKEN"),
            "{place}: the placeholder admin token was not the one refused: {stderr}"
        );
    }
}

#[test]
fn docs_name_real_settings_metrics_and_files() {
    let ops = read("docs/operations.md");
    let readme = read("deploy/README.md");
    assert_real_settings(setting_words(&ops), "docs/operations.md");
    assert_real_settings(setting_words(&readme), "deploy/README.md");
    for file in walk(&root().join("deploy")) {
        let rel = file
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_real_settings(setting_words(&read(&rel)), &rel);
        let name = rel.trim_start_matches("deploy/");
        // Filled-in copies of the *.env.example files are local and ignored by git.
        if name != "README.md" && name != ".gitignore" && !name.ends_with(".env") {
            assert!(
                readme.contains(name),
                "deploy/README.md does not describe {name}"
            );
        }
    }

    // Metric names: those the broker exports are documented, and nothing else.
    let metrics = read("broker/src/metrics.rs") + &read("broker/src/db/stats.rs");
    for name in [
        "latchkey_http_requests_total",
        "latchkey_ceremonies_total",
        "latchkey_redeems_total",
        "latchkey_http_request_duration_seconds",
        "latchkey_db_statements_total",
        "latchkey_db_transactions_total",
        "latchkey_db_round_trips_total",
        "latchkey_db_wal_fsyncs_total",
    ] {
        assert!(
            ops.contains(name),
            "docs/operations.md does not document the metric {name}"
        );
    }
    let mut rest = ops.as_str();
    while let Some(i) = rest.find("latchkey_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        let word = &tail[..end];
        if word.len() > "latchkey_".len() {
            assert!(
                metrics.contains(word),
                "docs/operations.md names a metric {word} that the broker does not export"
            );
        }
        rest = &tail[end.max(1)..];
    }
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "latchkey keys rotate",
        "latchkey migrate",
    ] {
        assert!(
            ops.contains(path),
            "docs/operations.md does not mention {path}"
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}
