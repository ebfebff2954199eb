//! Every short and long syntax normalised into the model.

use super::Fixture;
use crate::model::*;

pub(super) const WEB_APP: &str = r#"
services:
  web:
    image: nginx:alpine
    command: nginx -g 'daemon off;'
    environment:
      - MODE=prod
      - FROM_ENV
      - NOT_SET
    ports:
      - "8080:80"
      - "127.0.0.1:8443:443/tcp"
      - target: 9000
        published: "9001"
        protocol: udp
        host_ip: 0.0.0.0
    volumes:
      - ./html:/usr/share/nginx/html:ro
      - data:/data
      - /cache
      - type: tmpfs
        target: /run
        tmpfs:
          size: 64m
          mode: 01777
      - type: bind
        source: ./conf
        target: /etc/conf
        read_only: true
        bind:
          create_host_path: false
    networks:
      front:
        aliases: [www]
        ipv4_address: 172.28.0.10
      back:
    depends_on:
      db:
        condition: service_healthy
        restart: true
      cache:
        condition: service_started
        required: false
    healthcheck:
      test: curl -f http://localhost/
      interval: 1m30s
      timeout: 10s
      retries: 3
      start_period: 40s
    secrets:
      - db_password
      - source: api_key
        target: /etc/api_key
        uid: "1000"
        mode: 0440
    labels:
      com.example.tier: frontend
    restart: unless-stopped
    deploy:
      replicas: 2
      resources:
        limits:
          cpus: "0.5"
          memory: 512m
        reservations:
          cpus: 0.25
    ulimits:
      nproc: 65535
      nofile:
        soft: 20000
        hard: 40000
    tmpfs: /tmp
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    user: "1000:1000"
    working_dir: /srv
    hostname: web1
    read_only: true
    init: true
    stop_grace_period: 30s
    extra_hosts:
      - "somehost:162.242.195.82"
      - "other=10.0.0.1"
    dns: 8.8.8.8
    sysctls:
      net.core.somaxconn: 1024
    expose: ["3000", 4000]
  db:
    image: postgres:16
    entrypoint: ["docker-entrypoint.sh", "postgres"]
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
      PORT: 5432
    healthcheck:
      test: ["CMD", "pg_isready"]
    networks: [back]
    mem_limit: 1g
    shm_size: 256mb
  cache:
    build:
      context: ./cache
      dockerfile: Dockerfile.cache
      args:
        - VERSION=1.2
        - FROM_ENV
      target: prod
      labels: [a=b]
    profiles: [extra]
networks:
  front:
    driver: bridge
    ipam:
      config:
        - subnet: 172.28.0.0/16
          gateway: 172.28.0.1
  back:
    internal: true
    labels: {team: db}
  outside:
    external: true
    name: corp_net
volumes:
  data:
    driver_opts: {type: none}
    labels: [backup=yes]
  shared:
    external: true
secrets:
  db_password:
    file: ./secrets/db.txt
  api_key:
    environment: API_KEY
configs:
  motd:
    content: hello
"#;

#[test]
fn a_full_single_file_project() {
    let fixture = Fixture::new(WEB_APP)
        .env("FROM_ENV", "yes")
        .env("API_KEY", "k3y");
    let loaded = fixture.load();
    let project = &loaded.project;
    let dir = fixture.path("");
    let under = |rel: &str| dir.join(rel).to_string_lossy().into_owned();
    assert_eq!(project.name, "myapp");
    assert_eq!(project.services.keys().collect::<Vec<_>>(), ["web", "db"]);
    assert_eq!(
        project.disabled_services.keys().collect::<Vec<_>>(),
        ["cache"]
    );

    let web = &project.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx:alpine"));
    assert_eq!(
        web.command,
        Some(vec!["nginx".into(), "-g".into(), "daemon off;".into()])
    );
    assert_eq!(web.environment["MODE"].as_deref(), Some("prod"));
    assert_eq!(web.environment["FROM_ENV"].as_deref(), Some("yes"));
    assert_eq!(web.environment["NOT_SET"], None);

    assert_eq!(web.ports.len(), 3);
    assert_eq!(
        (web.ports[0].target, web.ports[0].published.as_deref()),
        (80, Some("8080"))
    );
    assert_eq!(web.ports[1].host_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(web.ports[2].protocol, "udp");
    assert_eq!(web.ports[2].published.as_deref(), Some("9001"));

    let v = &web.volumes;
    assert_eq!(v.len(), 5);
    assert_eq!(
        (v[0].kind, v[0].source.clone(), v[0].read_only),
        (VolumeType::Bind, Some(under("html")), true)
    );
    assert!(v[0].bind.as_ref().is_some_and(|b| b.create_host_path));
    assert_eq!(
        (v[1].kind, v[1].source.as_deref()),
        (VolumeType::Volume, Some("data"))
    );
    assert_eq!(
        (v[2].kind, v[2].source.as_deref(), v[2].target.as_str()),
        (VolumeType::Volume, None, "/cache")
    );
    assert_eq!(v[3].kind, VolumeType::Tmpfs);
    assert_eq!(v[3].tmpfs.as_ref().and_then(|t| t.size), Some(64 << 20));
    assert_eq!(v[3].tmpfs.as_ref().and_then(|t| t.mode), Some(0o1777));
    assert_eq!(v[4].source, Some(under("conf")));
    assert!(v[4].bind.as_ref().is_some_and(|b| !b.create_host_path));

    assert_eq!(web.networks["front"].aliases, ["www"]);
    assert_eq!(
        web.networks["front"].ipv4_address.as_deref(),
        Some("172.28.0.10")
    );
    assert!(web.networks.contains_key("back"));
    assert_eq!(
        web.depends_on["db"].condition,
        DependsCondition::ServiceHealthy
    );
    assert!(web.depends_on["db"].restart && web.depends_on["db"].required);
    assert!(!web.depends_on["cache"].required);

    let check = web.healthcheck.as_ref().expect("healthcheck");
    assert_eq!(check.test, ["CMD-SHELL", "curl -f http://localhost/"]);
    assert_eq!(check.interval, Some(GoDuration(90_000_000_000)));
    assert_eq!(check.retries, Some(3));

    assert_eq!(web.secrets[0].source, "db_password");
    assert_eq!(web.secrets[1].target.as_deref(), Some("/etc/api_key"));
    assert_eq!(web.secrets[1].mode, Some(0o440));
    assert_eq!(web.labels["com.example.tier"], "frontend");
    assert_eq!(web.restart.as_deref(), Some("unless-stopped"));
    assert_eq!(web.replicas(), 2);
    let limits = web
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.limits.as_ref());
    assert_eq!(limits.and_then(|l| l.cpus), Some(0.5));
    assert_eq!(limits.and_then(|l| l.memory), Some(512 << 20));
    assert_eq!(
        web.ulimits["nproc"],
        Ulimit {
            soft: 65535,
            hard: 65535
        }
    );
    assert_eq!(
        web.ulimits["nofile"],
        Ulimit {
            soft: 20000,
            hard: 40000
        }
    );
    assert_eq!(web.tmpfs, ["/tmp"]);
    assert_eq!(
        (web.cap_add.clone(), web.cap_drop.clone()),
        (vec!["NET_ADMIN".to_string()], vec!["ALL".to_string()])
    );
    assert_eq!(web.user.as_deref(), Some("1000:1000"));
    assert_eq!(web.working_dir.as_deref(), Some("/srv"));
    assert_eq!(web.hostname.as_deref(), Some("web1"));
    assert!(web.read_only);
    assert_eq!(web.init, Some(true));
    assert_eq!(web.stop_grace_period, Some(GoDuration(30_000_000_000)));
    assert_eq!(
        web.extra_hosts,
        ["somehost:162.242.195.82", "other:10.0.0.1"]
    );
    assert_eq!(web.dns, ["8.8.8.8"]);
    assert_eq!(web.sysctls["net.core.somaxconn"], "1024");
    assert_eq!(web.expose, ["3000", "4000"]);

    let db = &project.services["db"];
    assert_eq!(
        db.entrypoint,
        Some(vec!["docker-entrypoint.sh".into(), "postgres".into()])
    );
    assert_eq!(db.environment["PORT"].as_deref(), Some("5432"));
    assert_eq!(
        db.healthcheck.as_ref().map(|h| h.test.clone()),
        Some(vec!["CMD".into(), "pg_isready".into()])
    );
    assert_eq!(db.mem_limit, Some(1 << 30));
    assert_eq!(db.shm_size, Some(256 << 20));
    assert_eq!(db.networks.keys().collect::<Vec<_>>(), ["back"]);

    let cache = &project.disabled_services["cache"];
    let build = cache.build.as_ref().expect("build");
    assert_eq!(build.context, under("cache"));
    assert_eq!(build.dockerfile.as_deref(), Some("Dockerfile.cache"));
    assert_eq!(build.args["VERSION"].as_deref(), Some("1.2"));
    assert_eq!(build.args["FROM_ENV"].as_deref(), Some("yes"));
    assert_eq!(build.target.as_deref(), Some("prod"));

    // Engine-side names. Only the disabled `cache` uses `default`; it is
    // declared anyway so `run cache` finds it.
    assert_eq!(project.networks["front"].name, "myapp_front");
    assert_eq!(project.networks["outside"].name, "corp_net");
    assert!(project.networks["outside"].external);
    assert!(project.networks["back"].internal);
    assert_eq!(project.networks["default"].name, "myapp_default");
    assert_eq!(cache_networks(project), ["default"]);
    let ipam = project.networks["front"].ipam.as_ref().expect("ipam");
    assert_eq!(ipam.config[0].subnet.as_deref(), Some("172.28.0.0/16"));
    assert_eq!(project.volumes["data"].name, "myapp_data");
    assert_eq!(project.volumes["shared"].name, "shared");
    assert_eq!(project.volumes["data"].labels["backup"], "yes");
    assert_eq!(
        project.secrets["db_password"].file,
        Some(dir.join("secrets/db.txt"))
    );
    assert_eq!(project.secrets["api_key"].content.as_deref(), Some("k3y"));
    assert_eq!(project.secrets["api_key"].name, "myapp_api_key");
    assert_eq!(project.configs["motd"].content.as_deref(), Some("hello"));
    assert_eq!(project.volume_names(), ["data", "shared"]);
}

#[test]
fn default_network_is_added_for_services_without_networks() {
    let loaded = Fixture::new(
        "services:\n  a:\n    image: busybox\n  b:\n    image: busybox\n    network_mode: host\n",
    )
    .load();
    let project = &loaded.project;
    assert_eq!(
        project.services["a"].networks.keys().collect::<Vec<_>>(),
        ["default"]
    );
    assert!(project.services["b"].networks.is_empty());
    assert_eq!(project.networks["default"].name, "myapp_default");
}

#[test]
fn list_or_string_forms() {
    let text = r#"
services:
  s:
    image: busybox
    command: ["sh", "-c", "echo $$HOME"]
    entrypoint: ""
    environment: {A: 1, B: true, C: null}
    labels: ["x=1", "y"]
    tmpfs: ["/run", "/tmp:size=64k"]
    dns: [1.1.1.1, 8.8.8.8]
    env_file:
      - a.env
      - path: missing.env
        required: false
      - path: raw.env
        format: raw
    stop_grace_period: 1m
    healthcheck:
      disable: true
    deploy:
      resources:
        limits:
          cpus: 1.5
          memory: 1gb
    ulimits:
      core: 0
"#;
    let fixture = Fixture::new(text);
    fixture.write("a.env", "FROM_FILE=1\nA=overridden-by-environment\n");
    fixture.write("raw.env", "RAW='kept ${AS} is' # too\n");
    let project = fixture.load().project;
    let s = &project.services["s"];
    assert_eq!(
        s.command,
        Some(vec!["sh".into(), "-c".into(), "echo $HOME".into()])
    );
    assert_eq!(s.entrypoint, Some(vec![]));
    assert_eq!(s.environment["A"].as_deref(), Some("1"));
    assert_eq!(s.environment["B"].as_deref(), Some("true"));
    assert_eq!(s.environment["C"], None);
    assert_eq!(s.environment["FROM_FILE"].as_deref(), Some("1"));
    assert_eq!(
        s.environment["RAW"].as_deref(),
        Some("'kept ${AS} is' # too")
    );
    assert_eq!(
        s.environment.keys().next().map(String::as_str),
        Some("FROM_FILE")
    );
    assert_eq!(s.labels["y"], "");
    assert_eq!(s.tmpfs, ["/run", "/tmp:size=64k"]);
    assert_eq!(s.dns.len(), 2);
    assert_eq!(s.stop_grace_period, Some(GoDuration(60_000_000_000)));
    assert!(s.healthcheck.as_ref().is_some_and(|h| h.disable));
    let limits = s
        .deploy
        .as_ref()
        .and_then(|d| d.resources.clone())
        .and_then(|r| r.limits)
        .expect("limits");
    assert_eq!((limits.cpus, limits.memory), (Some(1.5), Some(1 << 30)));
    assert_eq!(s.ulimits["core"], Ulimit { soft: 0, hard: 0 });
}

#[test]
fn config_output_is_normalised_yaml() {
    let text = "name: demo\nservices:\n  web:\n    image: nginx\n    ports: ['8080:80']\n    healthcheck:\n      test: true\n      interval: 90s\nvolumes:\n  data: {}\n";
    let project = Fixture::new(text).load().project;
    let yaml = crate::to_yaml(&project);
    let name_at = yaml.find("name: demo").expect("name");
    let services_at = yaml.find("services:").expect("services");
    let networks_at = yaml.find("networks:").expect("networks");
    let volumes_at = yaml.find("volumes:").expect("volumes");
    assert!(
        name_at < services_at && services_at < networks_at && networks_at < volumes_at,
        "{yaml}"
    );
    assert!(yaml.contains("target: 80"), "{yaml}");
    assert!(yaml.contains("interval: 1m30s"), "{yaml}");
    assert!(yaml.contains("demo_default"), "{yaml}");
    assert!(yaml.contains("demo_data"), "{yaml}");
}

#[test]
fn config_output_does_not_print_secret_values_from_the_environment() {
    let text = "services:\n  s:\n    image: x\n    secrets: [token]\nsecrets:\n  token:\n    environment: TOKEN\n";
    let project = Fixture::new(text).env("TOKEN", "hunter2").load().project;
    assert_eq!(project.secrets["token"].content.as_deref(), Some("hunter2"));
    let yaml = crate::to_yaml(&project);
    assert!(yaml.contains("environment: TOKEN"), "{yaml}");
    assert!(!yaml.contains("hunter2"), "{yaml}");
}

fn cache_networks(project: &Project) -> Vec<String> {
    project.disabled_services["cache"]
        .networks
        .keys()
        .cloned()
        .collect()
}

#[test]
fn config_services_lists_dependencies_first() {
    let text = "services:\n  web:\n    image: x\n    depends_on: [db]\n  db:\n    image: x\n    depends_on: [cache]\n  cache:\n    image: x\n  admin:\n    image: x\nvolumes:\n  zeta: {}\n  alpha: {}\n";
    let project = Fixture::new(text).load().project;
    assert_eq!(project.service_names(), ["admin", "cache", "db", "web"]);
    assert_eq!(project.volume_names(), ["alpha", "zeta"]);
}

#[test]
fn links_and_service_network_mode_are_dependencies() {
    let text = "services:\n  web:\n    image: x\n    links: [db:database]\n  sidecar:\n    image: x\n    network_mode: service:web\n  db:\n    image: x\n";
    let project = Fixture::new(text).load().project;
    assert!(project.services["web"].depends_on.contains_key("db"));
    assert!(project.services["sidecar"].depends_on["web"].restart);
    assert_eq!(project.service_names(), ["db", "web", "sidecar"]);
}

#[test]
fn config_output_matches_compose_layout() {
    let text = "name: demo\nservices:\n  web:\n    image: nginx\n    environment: {B: 2, A: 1}\n    ports: ['8080:80']\n    depends_on: [db]\n  db:\n    image: postgres\n    volumes: ['data:/var/lib/postgresql/data']\nvolumes:\n  data: {}\n";
    let want = r#"name: demo
services:
  db:
    image: postgres
    networks:
      default: null
    volumes:
      - source: data
        target: /var/lib/postgresql/data
        type: volume
  web:
    depends_on:
      db:
        condition: service_started
        required: true
        restart: false
    environment:
      A: "1"
      B: "2"
    image: nginx
    networks:
      default: null
    ports:
      - mode: ingress
        protocol: tcp
        published: "8080"
        target: 80
networks:
  default:
    name: demo_default
volumes:
  data:
    name: demo_data
"#;
    assert_eq!(crate::to_yaml(&Fixture::new(text).load().project), want);
}
