//! Error messages name the file, the line and the key.

use super::Fixture;

#[test]
fn errors_name_file_line_and_key() {
    // (compose.yaml, the expected `file:line: key path` prefix, a part of
    // the message)
    let cases = [
        (
            "services:\n  web:\n    image: nginx\n    ports:\n      - \"80:abc\"\n",
            "compose.yaml:5: services.web.ports",
            "invalid port \"80:abc\"",
        ),
        (
            "services:\n  web:\n    imagee: nginx\n",
            "compose.yaml:3: services.web.imagee",
            "additional property not allowed",
        ),
        (
            "services:\n  web:\n    image: nginx\n    ports: \"80:80\"\n",
            "compose.yaml:4: services.web.ports",
            "must be a list",
        ),
        (
            "services:\n  web:\n    image: nginx\n    environment:\n      NEED: ${X:?need X}\n",
            "compose.yaml:5: services.web.environment.NEED",
            "required variable X is missing a value: need X",
        ),
        (
            "services:\n  web:\n    image: nginx\n    depends_on: [db]\n",
            "compose.yaml:4: services.web.depends_on",
            "service \"web\" depends on undefined service \"db\"",
        ),
        (
            "services:\n  web:\n    image: nginx\n    networks: [front]\n",
            "compose.yaml:4: services.web.networks",
            "undefined network front",
        ),
        (
            "services:\n  web:\n    image: nginx\n    volumes: [\"data:/data\"]\n",
            "compose.yaml:4: services.web.volumes",
            "undefined volume data",
        ),
        (
            "services:\n  web:\n    image: nginx\n    secrets: [token]\n",
            "compose.yaml:4: services.web.secrets",
            "undefined secret token",
        ),
        (
            "services:\n  web:\n    image: nginx\n    extends: base\n",
            "compose.yaml:4: services.web.extends",
            "cannot extend service \"base\"",
        ),
        (
            "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [c]\n  c:\n    image: x\n    depends_on: [a]\n",
            "compose.yaml:4: services.a.depends_on",
            "dependency cycle detected: a -> b -> c -> a",
        ),
        (
            "services:\n  web:\n    image: nginx\n    healthcheck:\n      interval: soon\n",
            "compose.yaml:5: services.web.healthcheck.interval",
            "invalid duration \"soon\"",
        ),
        (
            "services:\n  web:\n    image: nginx\n    mem_limit: lots\n",
            "compose.yaml:4: services.web.mem_limit",
            "invalid size",
        ),
        (
            "services:\n  web:\n    image: nginx\n    cpus: .inf\n",
            "compose.yaml:4: services.web.cpus",
            "invalid number",
        ),
        (
            "services:\n  web:\n    image: nginx\n    read_only: maybe\n",
            "compose.yaml:4: services.web.read_only",
            "invalid boolean",
        ),
        (
            "services:\n  web:\n    image: nginx\n    restart: sometimes\n",
            "compose.yaml:4: services.web.restart",
            "invalid restart policy",
        ),
        (
            "services:\n  web:\n    command: echo\n",
            "compose.yaml:2: services.web",
            "neither an image nor a build context",
        ),
        (
            "services:\n  web:\n    image: nginx\n    volumes:\n      - type: bind\n        target: /x\n",
            "compose.yaml:5: services.web.volumes",
            "needs a source",
        ),
        (
            "services:\n  web:\n    image: [nginx\n",
            "compose.yaml:",
            "yaml:",
        ),
        ("servicess:\n  web: {}\n", "compose.yaml:1: servicess", "additional property not allowed"),
        (
            "services:\n  web:\n    image: nginx\n    deploy:\n      replicas: many\n",
            "compose.yaml:5: services.web.deploy.replicas",
            "invalid integer",
        ),
        (
            "services:\n  web:\n    image: [nginx]\n",
            "compose.yaml:3: services.web.image",
            "must be a string, not an array",
        ),
        (
            "services:\n  web:\n    image: nginx\n    network_mode: \"service:ghost\"\n",
            "compose.yaml:4: services.web.network_mode",
            "undefined service \"ghost\"",
        ),
        (
            "services:\n  web:\n    image: ${oops\n",
            "compose.yaml:3: services.web.image",
            "invalid interpolation format",
        ),
        ("- a\n- b\n", "compose.yaml:1", "Top-level object must be a mapping"),
        (
            "services:\n  web:\n    image: nginx\n    container_name: w\n    deploy: {replicas: 2}\n",
            "compose.yaml:4: services.web.container_name",
            "container name must be unique",
        ),
        (
            "secrets:\n  s:\n    external: false\nservices: {}\n",
            "compose.yaml:2: secrets.s",
            "exactly one of file, environment or content",
        ),
    ];
    for (text, place, message) in cases {
        let err = Fixture::new(text).error();
        assert!(err.contains(place), "{text}\nwant {place:?} in: {err}");
        assert!(err.contains(message), "{text}\nwant {message:?} in: {err}");
    }
}

#[test]
fn errors_in_a_later_file_name_that_file() {
    let fixture = Fixture::new("services:\n  web:\n    image: nginx\n");
    fixture.write(
        "compose.override.yaml",
        "services:\n  web:\n    ports:\n      - \"1:2:3:4\"\n",
    );
    let err = fixture.error();
    assert!(
        err.contains("compose.override.yaml:4: services.web.ports"),
        "{err}"
    );
}

#[test]
fn invalid_project_names_are_refused() {
    let mut fixture = Fixture::new("services:\n  web:\n    image: nginx\n");
    fixture.opts.project_name = Some("My App".into());
    let err = fixture.error();
    assert!(err.contains("invalid project name \"My App\""), "{err}");
    fixture.opts.project_name = None;
    let fixture = fixture.env("COMPOSE_PROJECT_NAME", "_bad");
    assert!(fixture.error().contains("invalid project name"));
}

#[test]
fn no_file_found() {
    let fixture = Fixture::empty();
    assert_eq!(fixture.error(), "no configuration file provided: not found");
    assert!(fixture.root().exists());
}

#[test]
fn garbage_never_panics() {
    // Odd but syntactically valid inputs must give errors, not panics.
    let inputs = [
        "",
        "~",
        "42",
        "services: 3",
        "services:\n  web: 3\n",
        "services:\n  web: [1]\n",
        "services:\n  w:\n    image: x\n    ports: [{}]\n",
        "services:\n  w:\n    image: x\n    ports: [[1]]\n",
        "services:\n  w:\n    image: x\n    volumes: [{type: volume}]\n",
        "services:\n  w:\n    image: x\n    ulimits: {a: {soft: 1}}\n",
        "services:\n  w:\n    image: x\n    extends: {}\n",
        "services:\n  w:\n    image: x\n    extends: w\n",
        "services:\n  w:\n    image: x\n    healthcheck: {test: [BAD]}\n",
        "a: &a [*a]\n",
        "? [a]\n: b\n",
        "services:\n  w:\n    <<: 5\n",
        "services:\n  w:\n    image: x\n    environment: 5\n",
        "name: '!!'\nservices: {}\n",
        "services:\n  w:\n    image: x\n    ports: ['65536:1']\n",
        "services:\n  w:\n    image: x\n    cpus: 1e400\n",
        "services:\n  w:\n    image: x\n    pids_limit: 99999999999999999999\n",
        "services:\n  w:\n    image: x\n    depends_on: {a: 1}\n",
    ];
    for text in inputs {
        let _ = crate::load(&Fixture::new(text).opts);
    }
}

#[test]
fn every_prefix_and_mangling_of_a_real_file_loads_or_errors() {
    // Cut a full project file at many points and swap single characters
    // for YAML punctuation: each must load or give an error, never panic.
    let text = super::syntax::WEB_APP;
    let fixture = Fixture::empty().env("FROM_ENV", "x").env("API_KEY", "k");
    let chars: Vec<char> = text.chars().collect();
    for cut in (0..chars.len()).step_by(17) {
        let prefix: String = chars[..cut].iter().collect();
        fixture.write("compose.yaml", &prefix);
        let _ = crate::load(&fixture.opts);
    }
    for (index, replacement) in (0..chars.len()).step_by(19).zip(
        [':', '-', '[', '{', '&', '*', '$', '"', ' ', '0']
            .iter()
            .cycle(),
    ) {
        let mut mangled = chars.clone();
        mangled[index] = *replacement;
        let mangled: String = mangled.into_iter().collect();
        fixture.write("compose.yaml", &mangled);
        let _ = crate::load(&fixture.opts);
    }
}

#[test]
fn a_missing_file_is_named() {
    let mut fixture = Fixture::empty();
    fixture.opts.files = vec!["nope.yml".into()];
    let want = format!(
        "open {}: no such file or directory",
        fixture.path("nope.yml").display()
    );
    assert_eq!(fixture.error(), want);
}
