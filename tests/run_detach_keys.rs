//! `run -it` detaches on ctrl-p ctrl-q (or `--detach-keys`) and leaves the
//! container running, under a real pseudo-terminal, with pier as with the
//! docker CLI.
mod common;
use common::*;
use std::time::Duration;

fn running(d: &Daemon, name: &str) -> String {
    ok(d.pier(&["inspect", "--format", "{{.State.Running}}", name]))
}

#[test]
fn run_it_detaches_with_default_and_custom_keys() {
    let d = Daemon::start();
    let cases: [(&str, &[&str], &[u8]); 4] = [
        ("docker", &[], b"\x10\x11"),
        ("pier", &[], b"\x10\x11"),
        ("docker", &["--detach-keys", "ctrl-a,x"], b"\x01x"),
        ("pier", &["--detach-keys", "ctrl-a,x"], b"\x01x"),
    ];
    for (i, (cli, flags, keys)) in cases.iter().enumerate() {
        let name = format!("r{i}");
        let mut cmd = if *cli == "docker" {
            d.docker_cmd()
        } else {
            d.pier_cmd()
        };
        cmd.args(["run", "-it", "--name", &name]);
        cmd.args(*flags);
        cmd.args(["busybox", "sh"]);
        let (screen, code) = run_in_pty(
            cmd,
            &[
                (Duration::from_millis(1500), b"echo inside-$((40+2))\r"),
                (Duration::from_millis(700), keys),
            ],
            Duration::from_secs(15),
        );
        assert!(screen.contains("inside-42"), "{cli} {flags:?}: {screen}");
        assert_eq!(code, Some(0), "{cli} {flags:?}: {screen}");
        // Unlike `attach`, docker's `run` detaches without a word.
        assert!(
            !screen.contains("escape sequence"),
            "{cli} {flags:?}: {screen}"
        );
        assert_eq!(running(&d, &name), "true", "{cli} {flags:?}");
        // Still usable: attach again and end it with exit.
        assert_eq!(ok(d.pier(&["exec", &name, "echo", "alive"])), "alive");
    }
    // With other keys set, ctrl-p ctrl-q reach the container.
    for (cli, name) in [("docker", "r8"), ("pier", "r9")] {
        let mut cmd = if cli == "docker" {
            d.docker_cmd()
        } else {
            d.pier_cmd()
        };
        cmd.args(["run", "-it", "--name", name, "--detach-keys", "ctrl-a,x"]);
        cmd.args(["busybox", "cat"]);
        let (screen, code) = run_in_pty(
            cmd,
            &[
                (Duration::from_millis(1500), b"\x10\x11hello\r"),
                (Duration::from_millis(700), b"\x04"),
            ],
            Duration::from_secs(15),
        );
        assert!(
            screen.matches("hello").count() >= 2,
            "{cli}: {screen:?} {code:?}"
        );
        assert_eq!(code, Some(0), "{screen}");
        assert_eq!(running(&d, name), "false");
    }
}
