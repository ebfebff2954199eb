//! `.dockerignore` with Docker's semantics (moby/patternmatcher): patterns
//! are cleaned like Go's `filepath.Clean`, anchored at the context root
//! (a leading `/` is dropped), `*` and `?` stop at `/`, `**` crosses
//! directories, `!` re-includes, the last matching pattern wins, and a path
//! is excluded when it or one of its parent directories matches.

use std::path::Path;

use regex_lite::Regex;

use crate::error::{BuildError, Result};

/// Go's `path.Clean` for slash-separated paths.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            x => out.push(x),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Reads a `.dockerignore` into patterns, as the docker CLI does (comments
/// and blank lines dropped, each pattern cleaned, leading `/` removed).
pub fn read_patterns(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with('#') {
            continue;
        }
        let mut pat = line.trim();
        if pat.is_empty() {
            continue;
        }
        let invert = pat.starts_with('!');
        if invert {
            pat = pat[1..].trim();
        }
        let mut cleaned = if pat.is_empty() {
            String::new()
        } else {
            clean_path(pat)
        };
        if cleaned.len() > 1 && cleaned.starts_with('/') {
            cleaned.remove(0);
        }
        out.push(if invert {
            format!("!{cleaned}")
        } else {
            cleaned
        });
    }
    out
}

#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    exclusion: bool,
    regex: Option<Regex>,
}

fn compile(pattern: &str) -> Result<Option<Regex>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("^");
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if !in_class => {
                if chars.get(i) == Some(&'*') {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i >= chars.len() {
                        if re == "^" {
                            return Ok(None); // matches everything
                        }
                        re.push_str(".*");
                    } else {
                        re.push_str("(.*/)?");
                    }
                } else {
                    re.push_str("[^/]*");
                }
            }
            '?' if !in_class => re.push_str("[^/]"),
            '\\' => match chars.get(i) {
                Some(&n) => {
                    i += 1;
                    re.push('\\');
                    re.push(n);
                }
                None => re.push_str("\\\\"),
            },
            '[' if !in_class => {
                in_class = true;
                re.push('[');
            }
            ']' if in_class => {
                in_class = false;
                re.push(']');
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' | '^' if !in_class => {
                re.push('\\');
                re.push(c);
            }
            _ => re.push(c),
        }
    }
    if in_class {
        return Err(BuildError::Invalid(format!(
            "syntax error in pattern: {pattern}"
        )));
    }
    re.push('$');
    Regex::new(&re)
        .map(Some)
        .map_err(|_| BuildError::Invalid(format!("syntax error in pattern: {pattern}")))
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.regex {
            None => true,
            Some(r) => r.is_match(path),
        }
    }
}

/// A compiled pattern list.
#[derive(Debug, Clone, Default)]
pub struct IgnoreMatcher {
    patterns: Vec<Pattern>,
}

impl IgnoreMatcher {
    pub fn new(patterns: &[String]) -> Result<Self> {
        let mut out = Vec::new();
        for p in patterns {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let (exclusion, body) = match p.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, p),
            };
            let text = clean_path(body);
            if exclusion && body.is_empty() {
                return Err(BuildError::Invalid(
                    "illegal exclusion pattern: \"!\"".into(),
                ));
            }
            out.push(Pattern {
                regex: compile(&text)?,
                text,
                exclusion,
            });
        }
        Ok(IgnoreMatcher { patterns: out })
    }

    /// From `.dockerignore` text.
    pub fn from_dockerignore(text: &str) -> Result<Self> {
        Self::new(&read_patterns(text))
    }

    /// Reads `<dir>/.dockerignore` if present.
    pub fn for_context(dir: &Path) -> Result<Self> {
        match std::fs::read_to_string(dir.join(".dockerignore")) {
            Ok(t) => Self::from_dockerignore(&t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(BuildError::io("reading .dockerignore", e)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Appends `!path` exceptions (the Dockerfile and .dockerignore are
    /// always sent).
    pub fn keep(&mut self, path: &str) -> Result<()> {
        let text = clean_path(path);
        self.patterns.push(Pattern {
            regex: compile(&text)?,
            text,
            exclusion: true,
        });
        Ok(())
    }

    /// moby's `MatchesOrParentMatches`: is `path` (relative to the context
    /// root, slash-separated) excluded?
    pub fn excluded(&self, path: &str) -> bool {
        let file = clean_path(path);
        let parents: Vec<&str> = match file.rfind('/') {
            Some(p) => file[..p].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for pat in &self.patterns {
            // Only a pattern that can change the outcome is worth testing.
            if pat.exclusion != matched {
                continue;
            }
            let mut hit = pat.matches(&file);
            if !hit {
                for i in 0..parents.len() {
                    if pat.matches(&parents[..=i].join("/")) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !pat.exclusion;
            }
        }
        matched
    }

    /// Whether an excluded directory can be skipped whole: no `!` pattern
    /// could re-include something under it.
    pub fn can_skip_dir(&self, dir: &str) -> bool {
        let prefix = format!("{}/", clean_path(dir));
        !self
            .patterns
            .iter()
            .any(|p| p.exclusion && format!("{}/", p.text).starts_with(&prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases from moby/patternmatcher's TestMatches (MatchesOrParentMatches).
    #[test]
    fn patternmatcher_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("**", "file", true),
            ("**", "file/", true),
            ("**/", "file", true),
            ("**/", "file/", true),
            ("**", "/", true),
            ("**/", "/", true),
            ("**", "dir/file", true),
            ("**/", "dir/file", true),
            ("**", "dir/file/", true),
            ("**/", "dir/file/", true),
            ("**/**", "dir/file", true),
            ("**/**", "dir/file/", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/file/", true),
            ("dir/**", "dir/dir2/file", true),
            ("dir/**", "dir/dir2/file/", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/*", "dir/dir2/file/", true),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**/dir2/**", "dir/dir2/dir3/file/", true),
            ("**file", "file", true),
            ("**file", "dir/file", true),
            ("**/file", "dir/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/file*txt", "dir/dir/file.txt", true),
            ("**/file*.txt", "dir/dir/file.txt", true),
            ("**/file*.txt*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc.def", "abcZdef", false),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("a\\\\", "a\\", true),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def", true),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a(b)c/def", "a(b)c/xyz", false),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            (
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
        ];
        for (pattern, text, want) in cases {
            let m = IgnoreMatcher::new(&[pattern.to_string()]).unwrap();
            assert_eq!(m.excluded(text), *want, "pattern {pattern:?} on {text:?}");
        }
    }

    /// Pattern lists with exceptions (moby's TestPatternMatches cases).
    #[test]
    fn exceptions_and_order() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["*.go", "!main.go"], "main.go", false),
            (&["*.go", "!main.go"], "util.go", true),
            (&["docs", "!docs/README.md"], "docs/README.md", false),
            (&["docs", "!docs/README.md"], "docs/other.md", true),
            (
                &["docs/*", "!docs/README.md", "docs/README.md"],
                "docs/README.md",
                true,
            ),
            (&["*"], "a", true),
            (&["*", "!a"], "a", false),
            (&["/a/b"], "a/b", true),
            (&["a/../b"], "b", true),
            (&["./c"], "c", true),
            (&["**/*.log"], "deep/x/y.log", true),
            (&["dir"], "dir/sub/file", true),
            (&["dir/", "!dir/keep"], "dir/keep", false),
            (&["dir/", "!dir/keep"], "dir/keep/inner", false),
            (&["*/x"], "a/b/x", false),
            (&["*/x"], "a/x", true),
        ];
        for (patterns, text, want) in cases {
            let lines = patterns.join("\n");
            let m = IgnoreMatcher::from_dockerignore(&lines).unwrap();
            assert_eq!(m.excluded(text), *want, "{patterns:?} on {text:?}");
        }
    }

    #[test]
    fn file_reading_and_skip() {
        let pats = read_patterns("# comment\n  /foo/../bar  \n\n! keep \nsub/\n");
        assert_eq!(pats, ["bar", "!keep", "sub"]);
        let m = IgnoreMatcher::new(&pats).unwrap();
        assert!(m.can_skip_dir("sub"));
        let m = IgnoreMatcher::new(&["sub".into(), "!sub/x".into()]).unwrap();
        assert!(!m.can_skip_dir("sub"));
        assert!(IgnoreMatcher::new(&["!".into()]).is_err());
        assert!(IgnoreMatcher::new(&["[".into()]).is_err());
        assert_eq!(clean_path("a//b/./c/.."), "a/b");
        assert_eq!(clean_path("/../x"), "/x");
        assert_eq!(clean_path("../x"), "../x");
        assert_eq!(clean_path(""), ".");
    }
}
