//! The dependency graph: start order by `depends_on`, stop order reversed.

use pier_compose::Project;

use crate::commands::CmdError;

/// `names` plus (unless `no_deps`) everything they depend on, ordered so
/// dependencies come first; file order breaks ties.
pub fn start_order(
    project: &Project,
    names: &[String],
    no_deps: bool,
) -> Result<Vec<String>, CmdError> {
    let mut out: Vec<String> = Vec::new();
    let mut visiting: Vec<String> = Vec::new();
    fn visit(
        p: &Project,
        n: &str,
        deps: bool,
        out: &mut Vec<String>,
        visiting: &mut Vec<String>,
    ) -> Result<(), CmdError> {
        if out.iter().any(|o| o == n) {
            return Ok(());
        }
        if let Some(pos) = visiting.iter().position(|v| v == n) {
            let mut cycle: Vec<String> = visiting[pos..].to_vec();
            cycle.push(n.to_string());
            return Err(CmdError::new(
                1,
                format!("dependency cycle detected: {}", cycle.join(" -> ")),
            ));
        }
        visiting.push(n.to_string());
        if deps {
            if let Some(s) = p.services.get(n).or_else(|| p.disabled_services.get(n)) {
                for d in s.depends_on.keys() {
                    if p.services.contains_key(d) {
                        visit(p, d, deps, out, visiting)?;
                    } else if s.depends_on.get(d).is_some_and(|x| x.required) {
                        return Err(CmdError::new(
                            1,
                            format!("service {n:?} depends on undefined service {d:?}: invalid compose project"),
                        ));
                    }
                }
            }
        }
        visiting.pop();
        out.push(n.to_string());
        Ok(())
    }
    // Visit in file order so independent services keep it.
    let mut wanted: Vec<&String> = project
        .services
        .keys()
        .filter(|k| names.contains(k))
        .collect();
    for n in names {
        if !wanted.contains(&n) {
            wanted.push(n);
        }
    }
    for n in wanted {
        visit(project, n, !no_deps, &mut out, &mut visiting)?;
    }
    Ok(out)
}

/// Services that depend (directly or not) on any of `names`, so stopping
/// `names` stops them first.
pub fn dependents(project: &Project, names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = names.to_vec();
    loop {
        let before = out.len();
        for (k, s) in &project.services {
            if !out.contains(k) && s.depends_on.keys().any(|d| out.contains(d)) {
                out.push(k.clone());
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// `order` (a start order) cut into levels: a service's level is one past
/// the highest level of what it depends on within `order`, so the
/// services of one level can be created and started at the same time.
pub fn levels(project: &Project, order: &[String]) -> Vec<Vec<String>> {
    let mut level_of: Vec<(String, usize)> = Vec::new();
    let mut out: Vec<Vec<String>> = Vec::new();
    for s in order {
        let deps = project
            .services
            .get(s)
            .or_else(|| project.disabled_services.get(s))
            .map(|svc| svc.depends_on.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        let level = level_of
            .iter()
            .filter(|(n, _)| deps.contains(n))
            .map(|(_, l)| l + 1)
            .max()
            .unwrap_or(0);
        level_of.push((s.clone(), level));
        if out.len() <= level {
            out.resize(level + 1, Vec::new());
        }
        out[level].push(s.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pier_compose::{DependsOn, Service};

    fn project(edges: &[(&str, &[&str])]) -> Project {
        let mut p = Project {
            name: "p".into(),
            ..Project::default()
        };
        for (n, deps) in edges {
            let mut s = Service {
                name: n.to_string(),
                ..Service::default()
            };
            for d in *deps {
                s.depends_on.insert(
                    d.to_string(),
                    DependsOn {
                        required: true,
                        ..DependsOn::default()
                    },
                );
            }
            p.services.insert(n.to_string(), s);
        }
        p
    }

    #[test]
    fn dependencies_come_first() {
        let p = project(&[
            ("web", &["api"]),
            ("api", &["db", "cache"]),
            ("db", &[]),
            ("cache", &[]),
        ]);
        let all: Vec<String> = p.services.keys().cloned().collect();
        assert_eq!(
            start_order(&p, &all, false).unwrap(),
            ["db", "cache", "api", "web"]
        );
        assert_eq!(
            start_order(&p, &["web".to_string()], true).unwrap(),
            ["web"]
        );
        assert_eq!(dependents(&p, &["db".to_string()]), ["db", "api", "web"]);
        let order = start_order(&p, &all, false).unwrap();
        assert_eq!(
            levels(&p, &order),
            [vec!["db", "cache"], vec!["api"], vec!["web"]]
        );
    }

    #[test]
    fn cycles_are_refused() {
        let p = project(&[("a", &["b"]), ("b", &["a"])]);
        let e = start_order(&p, &["a".to_string()], false).unwrap_err();
        assert!(
            e.message.contains("dependency cycle detected"),
            "{}",
            e.message
        );
    }
}
