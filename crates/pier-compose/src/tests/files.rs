//! Discovery, env files, merging, extends, profiles, project names.

use std::path::PathBuf;

use super::Fixture;

const WEB: &str = "services:\n  web:\n    image: nginx\n";

#[test]
fn discovery_prefers_compose_yaml_and_adds_the_override() {
    let fixture = Fixture::new(WEB);
    fixture.write("docker-compose.yml", "services:\n  old:\n    image: x\n");
    fixture.write(
        "compose.override.yaml",
        "services:\n  web:\n    ports: ['80:80']\n",
    );
    let loaded = fixture.load();
    assert_eq!(
        loaded.project.config_files,
        [
            fixture.path("compose.yaml"),
            fixture.path("compose.override.yaml")
        ]
    );
    assert_eq!(loaded.project.services.keys().collect::<Vec<_>>(), ["web"]);
    assert_eq!(loaded.project.services["web"].ports.len(), 1);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("Found multiple config files")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn discovery_walks_up_to_parent_directories() {
    let mut fixture = Fixture::empty();
    fixture.write("docker-compose.yml", WEB);
    fixture.write(
        "docker-compose.override.yml",
        "services:\n  web:\n    tty: true\n",
    );
    fixture.write("sub/dir/.keep", "");
    let top = fixture.opts.working_dir.clone();
    fixture.opts.working_dir = top.join("sub/dir");
    let project = fixture.load().project;
    assert_eq!(project.working_dir, top);
    assert_eq!(project.name, "myapp");
    assert!(project.services["web"].tty);
}

#[test]
fn compose_file_variable_lists_files() {
    let fixture = Fixture::empty().env("COMPOSE_FILE", "base.yml:extra.yml");
    fixture.write("base.yml", WEB);
    fixture.write("extra.yml", "services:\n  db:\n    image: postgres\n");
    fixture.write("compose.yaml", "services:\n  ignored:\n    image: x\n");
    let project = fixture.load().project;
    assert_eq!(project.services.keys().collect::<Vec<_>>(), ["web", "db"]);

    // COMPOSE_FILE and COMPOSE_PROJECT_NAME may come from .env too.
    let fixture = Fixture::empty();
    fixture.write(
        ".env",
        "COMPOSE_FILE=base.yml\nCOMPOSE_PROJECT_NAME=fromdotenv\n",
    );
    fixture.write("base.yml", WEB);
    let project = fixture.load().project;
    assert_eq!(project.name, "fromdotenv");
    assert_eq!(project.config_files, [fixture.path("base.yml")]);
}

#[test]
fn dotenv_and_env_file_precedence() {
    let text = "services:\n  web:\n    image: nginx:${TAG:-latest}\n    environment:\n      - GREETING=${GREETING}\n";
    // .env is read…
    let fixture = Fixture::new(text);
    fixture.write(".env", "TAG=1.25\nGREETING=hi from dotenv\n");
    let web = fixture.load().project.services["web"].clone();
    assert_eq!(web.image.as_deref(), Some("nginx:1.25"));
    assert_eq!(
        web.environment["GREETING"].as_deref(),
        Some("hi from dotenv")
    );
    // …the process environment wins over it…
    let fixture = fixture.env("TAG", "from-process");
    let web = fixture.load().project.services["web"].clone();
    assert_eq!(web.image.as_deref(), Some("nginx:from-process"));
    // …and --env-file replaces .env.
    let mut fixture = Fixture::new(text);
    fixture.write(".env", "TAG=dotenv\nGREETING=dotenv\n");
    fixture.write("prod.env", "TAG=prod\n");
    fixture.opts.env_files = vec![PathBuf::from("prod.env")];
    let loaded = fixture.load();
    let web = &loaded.project.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx:prod"));
    assert_eq!(web.environment["GREETING"].as_deref(), Some(""));
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w == "The \"GREETING\" variable is not set. Defaulting to a blank string."),
        "{:?}",
        loaded.warnings
    );
    // COMPOSE_ENV_FILES does the same as --env-file.
    fixture.opts.env_files = Vec::new();
    let mut fixture = fixture.env("COMPOSE_ENV_FILES", "prod.env");
    let web = fixture.load().project.services["web"].clone();
    assert_eq!(web.image.as_deref(), Some("nginx:prod"));
    // A missing --env-file is an error.
    fixture.opts.env_files = vec![PathBuf::from("nope.env")];
    assert!(fixture.error().contains("nope.env"));
}

#[test]
fn project_name_precedence() {
    let text = "name: fromfile\nservices:\n  web:\n    image: nginx\n";
    let mut fixture = Fixture::new(text);
    assert_eq!(fixture.load().project.name, "fromfile");
    fixture = fixture.env("COMPOSE_PROJECT_NAME", "fromenv");
    assert_eq!(fixture.load().project.name, "fromenv");
    fixture.opts.project_name = Some("fromflag".into());
    assert_eq!(fixture.load().project.name, "fromflag");
    // The directory name is normalised.
    let mut fixture = Fixture::empty();
    let dir = fixture.root().join("My.Project_1");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("compose.yml"), WEB).expect("write");
    fixture.opts.working_dir = dir;
    let project = fixture.load().project;
    assert_eq!(project.name, "myproject_1");
    assert_eq!(project.networks["default"].name, "myproject_1_default");
}

#[test]
fn several_files_merge_by_the_spec_rules() {
    let mut fixture = Fixture::empty();
    fixture.write(
        "base.yml",
        r#"
services:
  web:
    image: nginx
    command: ["a", "b"]
    environment: [A=1, B=2]
    labels: {tier: web}
    ports: ["80:80"]
    volumes: ["data:/data", "./logs:/logs"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 5s
volumes:
  data: {}
"#,
    );
    fixture.write(
        "prod/override.yml",
        r#"
services:
  web:
    image: nginx:prod
    command: serve
    environment: {B: "3", C: "4"}
    labels: [owner=ops]
    ports: ["443:443"]
    volumes: ["other:/data"]
    healthcheck:
      test: curl -f localhost
volumes:
  other: {}
"#,
    );
    fixture.opts.files = vec!["base.yml".into(), "prod/override.yml".into()];
    let project = fixture.load().project;
    let web = &project.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx:prod"));
    assert_eq!(web.command, Some(vec!["serve".to_string()]));
    let env: Vec<(String, Option<String>)> = web.environment.clone().into_iter().collect();
    assert_eq!(
        env,
        [
            ("A".to_string(), Some("1".to_string())),
            ("B".to_string(), Some("3".to_string())),
            ("C".to_string(), Some("4".to_string()))
        ]
    );
    assert_eq!(web.labels.len(), 2);
    assert_eq!(web.ports.len(), 2);
    assert_eq!(web.volumes.len(), 2);
    assert_eq!(web.volumes[0].source.as_deref(), Some("other"));
    // Relative paths are against the project directory (the first file's).
    assert_eq!(
        web.volumes[1].source,
        Some(fixture.path("logs").to_string_lossy().into_owned())
    );
    let check = web.healthcheck.as_ref().expect("healthcheck");
    assert_eq!(check.test, ["CMD-SHELL", "curl -f localhost"]);
    assert!(check.interval.is_some());
    assert_eq!(project.volume_names(), ["data", "other"]);
}

#[test]
fn extends_in_the_same_file_and_across_files() {
    let fixture = Fixture::new(
        r#"
services:
  base:
    image: busybox
    environment: {LEVEL: base, KEEP: yes}
    command: sleep 1
  app:
    extends: base
    environment: {LEVEL: app}
  remote:
    extends:
      file: common/services.yml
      service: worker
    command: run
"#,
    );
    fixture.write(
        "common/services.yml",
        "services:\n  worker:\n    extends: core\n    build: ./worker\n    env_file: worker.env\n    volumes: ['./cache:/cache']\n  core:\n    image: worker:1\n    labels: [from=core]\n",
    );
    fixture.write("common/worker.env", "WORKER=1\n");
    let project = fixture.load().project;
    let app = &project.services["app"];
    assert_eq!(app.image.as_deref(), Some("busybox"));
    assert_eq!(app.environment["LEVEL"].as_deref(), Some("app"));
    assert_eq!(app.environment["KEEP"].as_deref(), Some("yes"));
    assert_eq!(
        app.command,
        Some(vec!["sleep".to_string(), "1".to_string()])
    );
    let remote = &project.services["remote"];
    assert_eq!(remote.image.as_deref(), Some("worker:1"));
    assert_eq!(remote.labels["from"], "core");
    assert_eq!(remote.command, Some(vec!["run".to_string()]));
    // Paths from the other file resolve against that file's directory.
    let common = fixture.path("common");
    assert_eq!(
        remote.build.as_ref().map(|b| b.context.clone()),
        Some(common.join("worker").to_string_lossy().into_owned())
    );
    assert_eq!(remote.environment["WORKER"].as_deref(), Some("1"));
    assert_eq!(
        remote.volumes[0].source,
        Some(common.join("cache").to_string_lossy().into_owned())
    );
}

#[test]
fn extends_cycles_are_errors() {
    let err = Fixture::new(
        "services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: x\n    extends: a\n",
    )
    .error();
    assert!(err.contains("circular reference with extends"), "{err}");
    assert!(
        err.contains("services.a.extends") || err.contains("services.b.extends"),
        "{err}"
    );
}

#[test]
fn profiles_enable_services() {
    let text = r#"
services:
  web:
    image: nginx
  debug:
    image: busybox
    profiles: [debug]
  tools:
    image: busybox
    profiles: [tools, debug]
"#;
    let mut fixture = Fixture::new(text);
    let project = fixture.load().project;
    assert_eq!(project.services.keys().collect::<Vec<_>>(), ["web"]);
    assert_eq!(
        project.disabled_services.keys().collect::<Vec<_>>(),
        ["debug", "tools"]
    );
    assert_eq!(project.profile_names(), ["debug", "tools"]);

    fixture.opts.profiles = vec!["tools".into()];
    assert_eq!(
        fixture.load().project.services.keys().collect::<Vec<_>>(),
        ["web", "tools"]
    );
    fixture.opts.profiles = vec![];
    let fixture = fixture.env("COMPOSE_PROFILES", "debug");
    assert_eq!(
        fixture.load().project.service_names(),
        ["debug", "tools", "web"]
    );
    let fixture = fixture.env("COMPOSE_PROFILES", "*");
    assert_eq!(fixture.load().project.services.len(), 3);
}

#[test]
fn a_dependency_outside_the_active_profiles_is_an_error() {
    let text = "services:\n  web:\n    image: nginx\n    depends_on: [db]\n  db:\n    image: postgres\n    profiles: [db]\n";
    let err = Fixture::new(text).error();
    assert!(
        err.contains("compose.yaml:4: services.web.depends_on"),
        "{err}"
    );
    assert!(err.contains("not enabled by the active profiles"), "{err}");
    let mut fixture = Fixture::new(text);
    fixture.opts.profiles = vec!["db".into()];
    assert_eq!(
        fixture.load().project.services.keys().collect::<Vec<_>>(),
        ["web", "db"]
    );
}

#[test]
fn obsolete_version_warns() {
    let loaded = Fixture::new("version: '3.8'\nservices:\n  web:\n    image: nginx\n").load();
    assert!(
        loaded.warnings.iter().any(|w| w.ends_with(
            "the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion"
        )),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn anchors_merge_keys_and_extension_fields() {
    let text = r#"
x-common: &common
  image: busybox
  restart: always
  environment:
    SHARED: "1"
services:
  a:
    <<: *common
    command: echo a
  b:
    <<: *common
    restart: "no"
"#;
    let project = Fixture::new(text).load().project;
    assert_eq!(project.services["a"].restart.as_deref(), Some("always"));
    assert_eq!(project.services["b"].restart.as_deref(), Some("no"));
    assert_eq!(
        project.services["b"].environment["SHARED"].as_deref(),
        Some("1")
    );
}

#[test]
fn interpolation_applies_to_values_not_keys() {
    let text = "services:\n  web:\n    image: \"${IMAGE}\"\n    labels:\n      ${KEY}: \"$$literal ${VALUE:-v}\"\n    deploy:\n      replicas: ${REPLICAS:-2}\n";
    let project = Fixture::new(text).env("IMAGE", "nginx").load().project;
    let web = &project.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx"));
    assert_eq!(web.labels["${KEY}"], "$literal v");
    assert_eq!(web.replicas(), 2);
}

#[test]
fn include_brings_in_another_projects_resources() {
    let fixture = Fixture::new(
        "include:\n  - db/compose.yaml\n  - path: cache/compose.yaml\n    env_file: cache/cache.env\nservices:\n  web:\n    image: nginx\n    depends_on: [db, cache]\n",
    );
    fixture.write(
        "db/compose.yaml",
        "services:\n  db:\n    image: postgres:${PG:-15}\n    volumes: ['./init:/docker-entrypoint-initdb.d', 'dbdata:/var/lib/postgresql/data']\nvolumes:\n  dbdata: {}\nsecrets:\n  pw:\n    file: ./pw.txt\n",
    );
    fixture.write("db/.env", "PG=16\n");
    fixture.write(
        "cache/compose.yaml",
        "services:\n  cache:\n    image: redis:${REDIS_TAG}\n",
    );
    fixture.write("cache/cache.env", "REDIS_TAG=7\n");
    let project = fixture.load().project;
    assert_eq!(
        project.services.keys().collect::<Vec<_>>(),
        ["web", "db", "cache"]
    );
    let db = &project.services["db"];
    assert_eq!(db.image.as_deref(), Some("postgres:16"));
    let init = fixture.path("db/init").to_string_lossy().into_owned();
    assert_eq!(db.volumes[0].source.as_deref(), Some(init.as_str()));
    assert_eq!(project.volumes["dbdata"].name, "myapp_dbdata");
    assert_eq!(project.secrets["pw"].file, Some(fixture.path("db/pw.txt")));
    assert_eq!(project.services["cache"].image.as_deref(), Some("redis:7"));

    // A resource defined on both sides is an error.
    let fixture = Fixture::new("include: [other.yaml]\nservices:\n  web:\n    image: nginx\n");
    fixture.write("other.yaml", "services:\n  web:\n    image: httpd\n");
    let err = fixture.error();
    assert!(
        err.contains("compose.yaml:3: services.web: conflicts with imported resource"),
        "{err}"
    );
}

#[test]
fn project_directory_moves_discovery_and_dotenv() {
    let mut fixture = Fixture::empty();
    fixture.write(
        "elsewhere/compose.yaml",
        "services:\n  web:\n    image: nginx:${TAG}\n",
    );
    fixture.write("elsewhere/.env", "TAG=2\n");
    fixture.opts.project_directory = Some("elsewhere".into());
    let project = fixture.load().project;
    assert_eq!(project.name, "elsewhere");
    assert_eq!(project.working_dir, fixture.path("elsewhere"));
    assert_eq!(project.services["web"].image.as_deref(), Some("nginx:2"));
}

#[test]
fn tutorial_style_projects_load() {
    let fixture = Fixture::new(
        "version: '3.8'\nservices:\n  web:\n    build: .\n    ports: [\"8000:8000\"]\n    volumes: [\".:/app\"] # Hot reload\n  db:\n    image: postgres:13\n    environment:\n      POSTGRES_PASSWORD: example\n",
    );
    let loaded = fixture.load();
    let web = &loaded.project.services["web"];
    let dir = fixture
        .path("")
        .to_string_lossy()
        .trim_end_matches('/')
        .to_string();
    assert_eq!(
        web.build.as_ref().map(|b| b.context.clone()),
        Some(dir.clone())
    );
    assert_eq!(web.volumes[0].source, Some(dir));
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);

    let fixture = Fixture::new(
        r#"
services:
  backend:
    build: ./backend
    ports:
      - "8000:8000"
    environment:
      - DATABASE_URL=postgresql://user:pass@db:5432/mydb
    depends_on:
      - db

  frontend:
    build: ./frontend
    ports:
      - "3000:3000"

  db:
    image: postgres:15
    environment:
      POSTGRES_USER: user
      POSTGRES_PASSWORD: pass
      POSTGRES_DB: mydb
    volumes:
      - postgres_data:/var/lib/postgresql/data

volumes:
  postgres_data:
"#,
    );
    let project = fixture.load().project;
    assert_eq!(project.service_names(), ["db", "backend", "frontend"]);
    assert_eq!(
        project.services["backend"].environment["DATABASE_URL"].as_deref(),
        Some("postgresql://user:pass@db:5432/mydb")
    );
    assert_eq!(project.volumes["postgres_data"].name, "myapp_postgres_data");
}

#[test]
fn an_empty_service_in_an_override_changes_nothing() {
    let fixture = Fixture::new(WEB);
    fixture.write("compose.override.yaml", "services:\n  web:\n");
    let project = fixture.load().project;
    assert_eq!(project.services["web"].image.as_deref(), Some("nginx"));
}

#[test]
fn the_project_name_is_available_for_interpolation() {
    let text =
        "services:\n  web:\n    image: nginx\n    container_name: ${COMPOSE_PROJECT_NAME}-web\n";
    assert_eq!(
        Fixture::new(text).load().project.services["web"]
            .container_name
            .as_deref(),
        Some("myapp-web")
    );
    let named = format!("name: ${{BASE:-demo}}\n{text}");
    let project = Fixture::new(&named).load().project;
    assert_eq!(project.name, "demo");
    assert_eq!(
        project.services["web"].container_name.as_deref(),
        Some("demo-web")
    );
}

#[test]
fn dash_reads_the_compose_file_from_stdin() {
    let mut fixture = Fixture::empty();
    fixture.write(
        "override.yml",
        "services:\n  web:\n    environment: [FROM=file]\n",
    );
    fixture.opts.files = vec![PathBuf::from("-"), PathBuf::from("override.yml")];
    fixture.opts.stdin = Some(
        "name: fromstdin\nservices:\n  web:\n    image: nginx\n    build: ./app\n    volumes: ['./logs:/logs']\n"
            .to_string(),
    );
    let loaded = fixture.load();
    let p = &loaded.project;
    assert_eq!(p.name, "fromstdin");
    let web = &p.services["web"];
    assert_eq!(web.image.as_deref(), Some("nginx"));
    assert_eq!(web.environment["FROM"].as_deref(), Some("file"));
    // Relative paths are against the working directory.
    assert_eq!(
        web.build.as_ref().unwrap().context,
        fixture.path("app").display().to_string()
    );
    assert_eq!(p.working_dir, fixture.opts.working_dir);
    // Without stdin text, `-` is an ordinary (missing) file.
    fixture.opts.stdin = None;
    assert!(fixture.error().contains('-'), "{}", fixture.error());
}
