//! Dockerfile text → instructions: parser directives (`# escape=`,
//! `# syntax=`), comments, line continuations, heredocs (`RUN <<EOF`,
//! `COPY <<EOF file`), `--flags`, and exec (JSON) vs shell form. Variable
//! expansion happens later, per stage, in the executor.

use crate::error::{BuildError, Result};

/// One heredoc attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    /// Unquoted delimiter: variables in the content are expanded.
    pub expand: bool,
}

/// An instruction as written: keyword, flags and argument text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line where it starts.
    pub line: usize,
    /// Lowercase keyword (`run`, `copy`, ...).
    pub cmd: String,
    /// `--name=value` / `--name` flags in order, without the dashes.
    pub flags: Flags,
    /// Argument text after the flags (continuations joined).
    pub args: String,
    pub heredocs: Vec<Heredoc>,
    /// `KEYWORD args` as written on one line, for step output.
    pub original: String,
}

impl Instruction {
    /// The value of flag `name` (last one wins), `Some("")` for a bare flag.
    pub fn flag(&self, name: &str) -> Option<String> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone().unwrap_or_default())
    }

    /// Every value of a repeatable flag.
    pub fn flag_all(&self, name: &str) -> Vec<String> {
        self.flags
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone().unwrap_or_default())
            .collect()
    }

    /// The JSON (exec) form of the arguments, if they are one.
    pub fn json_args(&self) -> Option<Vec<String>> {
        let t = self.args.trim();
        if !t.starts_with('[') {
            return None;
        }
        serde_json::from_str::<Vec<String>>(t).ok()
    }

    pub fn keyword(&self) -> String {
        self.cmd.to_ascii_uppercase()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub escape: char,
    pub syntax: Option<String>,
    pub instructions: Vec<Instruction>,
}

const KNOWN: &[&str] = &[
    "from",
    "run",
    "cmd",
    "entrypoint",
    "label",
    "maintainer",
    "expose",
    "env",
    "arg",
    "add",
    "copy",
    "volume",
    "user",
    "workdir",
    "onbuild",
    "stopsignal",
    "healthcheck",
    "shell",
];

/// Flags each instruction accepts (BuildKit's set).
fn allowed_flags(cmd: &str) -> &'static [&'static str] {
    match cmd {
        "from" => &["platform"],
        "run" => &["network", "mount", "security"],
        "copy" => &["from", "chown", "chmod", "link", "parents", "exclude"],
        "add" => &[
            "chown",
            "chmod",
            "link",
            "checksum",
            "keep-git-dir",
            "exclude",
            "unpack",
        ],
        "healthcheck" => &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        _ => &[],
    }
}

fn parse_directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?.trim();
    let (k, v) = rest.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((k.to_ascii_lowercase(), v.trim().to_string()))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`) in an argument string,
/// outside quotes.
fn heredoc_markers(args: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    let chars: Vec<char> = args.chars().collect();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '<'
                && chars.get(i + 1) == Some(&'<')
                && chars.get(i + 2) != Some(&'<') =>
            {
                let mut j = i + 2;
                let chomp = chars.get(j) == Some(&'-');
                if chomp {
                    j += 1;
                }
                let q = match chars.get(j) {
                    Some(&c) if c == '"' || c == '\'' => {
                        j += 1;
                        Some(c)
                    }
                    _ => None,
                };
                let start = j;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                if j > start {
                    let name: String = chars[start..j].iter().collect();
                    if let Some(q) = q {
                        if chars.get(j) == Some(&q) {
                            j += 1;
                        }
                    }
                    out.push((name, q.is_none(), chomp));
                    i = j;
                    continue;
                }
            }
            None => {}
        }
        i += 1;
    }
    out
}

type Flags = Vec<(String, Option<String>)>;

/// Splits leading `--flag[=value]` words off the argument text.
fn split_flags(line: usize, cmd: &str, args: &str) -> Result<(Flags, String)> {
    let mut flags = Vec::new();
    let mut rest = args.trim_start();
    while let Some(after) = rest.strip_prefix("--") {
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let word = &after[..end];
        if word.is_empty() {
            break;
        }
        let (name, value) = match word.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (word.to_string(), None),
        };
        if !allowed_flags(cmd).contains(&name.as_str()) {
            return Err(BuildError::parse(line, format!("unknown flag: {name}")));
        }
        flags.push((name, value));
        rest = after[end..].trim_start();
    }
    Ok((flags, rest.to_string()))
}

/// Parses a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut escape = '\\';
    let mut syntax = None;
    let mut i = 0;
    // Directives: only at the very top, before anything else.
    while i < lines.len() {
        let Some((k, v)) = parse_directive(lines[i]) else {
            break;
        };
        match k.as_str() {
            "escape" => {
                escape = match v.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(BuildError::parse(
                            i + 1,
                            format!("invalid escape token '{v}' does not match ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => syntax = Some(v),
            _ => {}
        }
        i += 1;
    }

    let mut instructions = Vec::new();
    while i < lines.len() {
        let raw = lines[i];
        if raw.trim().is_empty() || is_comment(raw) {
            i += 1;
            continue;
        }
        let start = i + 1;
        // Join continuation lines; comment and empty lines inside are dropped.
        let mut logical = String::new();
        let mut cur = raw;
        loop {
            let trimmed = cur.trim_end();
            if let Some(body) = trimmed.strip_suffix(escape) {
                logical.push_str(body);
                i += 1;
                while i < lines.len() && (is_comment(lines[i]) || lines[i].trim().is_empty()) {
                    i += 1;
                }
                if i >= lines.len() {
                    break;
                }
                cur = lines[i];
            } else {
                logical.push_str(cur);
                i += 1;
                break;
            }
        }
        let logical = logical.trim();
        let (word, rest) = match logical.find(char::is_whitespace) {
            Some(p) => (&logical[..p], logical[p..].trim_start()),
            None => (logical, ""),
        };
        let cmd = word.to_ascii_lowercase();
        if !KNOWN.contains(&cmd.as_str()) {
            return Err(BuildError::parse(
                start,
                format!("unknown instruction: {word}"),
            ));
        }
        let (flags, args) = split_flags(start, &cmd, rest)?;
        let mut heredocs = Vec::new();
        if matches!(cmd.as_str(), "run" | "copy" | "add") {
            for (name, expand, chomp) in heredoc_markers(&args) {
                let mut content = String::new();
                let mut found = false;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let l = if chomp { l.trim_start_matches('\t') } else { l };
                    if l == name {
                        found = true;
                        break;
                    }
                    content.push_str(l);
                    content.push('\n');
                }
                if !found {
                    return Err(BuildError::parse(
                        start,
                        format!("unterminated heredoc {name}"),
                    ));
                }
                heredocs.push(Heredoc {
                    name,
                    content,
                    expand,
                });
            }
        }
        if cmd != "onbuild" && args.trim().is_empty() && heredocs.is_empty() {
            let needs = !matches!(cmd.as_str(), "cmd" | "entrypoint" | "shell");
            if needs {
                return Err(BuildError::parse(
                    start,
                    format!(
                        "{} requires at least one argument",
                        cmd.to_ascii_uppercase()
                    ),
                ));
            }
        }
        if cmd == "onbuild" {
            let inner = args
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if inner.is_empty() {
                return Err(BuildError::parse(
                    start,
                    "ONBUILD requires at least one argument",
                ));
            }
            if matches!(inner.as_str(), "onbuild" | "from" | "maintainer") {
                return Err(BuildError::parse(
                    start,
                    format!(
                        "{} isn't allowed as an ONBUILD trigger",
                        inner.to_ascii_uppercase()
                    ),
                ));
            }
        }
        let original = format!(
            "{} {}",
            word.to_ascii_uppercase(),
            logical[word.len()..].trim_start()
        )
        .trim_end()
        .to_string();
        instructions.push(Instruction {
            line: start,
            cmd,
            flags,
            args,
            heredocs,
            original,
        });
    }
    if instructions.is_empty() {
        return Err(BuildError::Invalid("the Dockerfile cannot be empty".into()));
    }
    Ok(Dockerfile {
        escape,
        syntax,
        instructions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_lines_comments_and_continuations() {
        let df = parse(
            "# syntax=docker/dockerfile:1\n\
             FROM busybox AS base\n\
             # a comment\n\
             RUN echo a \\\n\
             # inside\n\
             \n\
               && echo b\n\
             cmd [\"sh\", \"-c\", \"echo hi\"]\n",
        )
        .unwrap();
        assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(df.instructions.len(), 3);
        assert_eq!(df.instructions[1].cmd, "run");
        assert_eq!(df.instructions[1].line, 4);
        assert_eq!(df.instructions[1].args, "echo a && echo b");
        assert_eq!(
            df.instructions[2].json_args().unwrap(),
            ["sh", "-c", "echo hi"]
        );
        assert_eq!(df.instructions[2].line, 8);
    }

    #[test]
    fn escape_directive() {
        let df = parse("# escape=`\nFROM x\nRUN echo a `\n b\n").unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(df.instructions[1].args, "echo a  b");
        let e = parse("# escape=x\nFROM x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 1: invalid escape token 'x' does not match ` or \\"
        );
        // Not a directive once an instruction was seen.
        let df = parse("FROM x\n# escape=`\nRUN a \\\n b\n").unwrap();
        assert_eq!(df.escape, '\\');
    }

    #[test]
    fn flags() {
        let df = parse("FROM x\nCOPY --from=build --chown=1:2 a b /c/\n").unwrap();
        let c = &df.instructions[1];
        assert_eq!(c.flag("from").as_deref(), Some("build"));
        assert_eq!(c.flag("chown").as_deref(), Some("1:2"));
        assert_eq!(c.args, "a b /c/");
        let e = parse("FROM x\nCOPY --bogus a b\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 2: unknown flag: bogus"
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("FROM x\n\nFOO bar\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 3: unknown instruction: FOO"
        );
        let e = parse("FROM x\nRUN\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 2: RUN requires at least one argument"
        );
        assert!(parse("# only a comment\n").is_err());
        let e = parse("FROM x\nONBUILD FROM y\n").unwrap_err();
        assert!(e
            .to_string()
            .contains("FROM isn't allowed as an ONBUILD trigger"));
    }

    #[test]
    fn heredocs() {
        let df = parse(
            "FROM x\nRUN <<EOF\necho one\necho two\nEOF\nCOPY <<-\"END\" /f\n\tliteral $X\n\tEND\nRUN cat <<A <<B\na\nA\nb\nB\nCMD x\n",
        )
        .unwrap();
        let run = &df.instructions[1];
        assert_eq!(run.heredocs.len(), 1);
        assert_eq!(run.heredocs[0].content, "echo one\necho two\n");
        assert!(run.heredocs[0].expand);
        let copy = &df.instructions[2];
        assert_eq!(copy.heredocs[0].name, "END");
        assert_eq!(copy.heredocs[0].content, "literal $X\n");
        assert!(!copy.heredocs[0].expand);
        assert_eq!(df.instructions[3].heredocs.len(), 2);
        assert_eq!(df.instructions[4].cmd, "cmd");
        assert_eq!(df.instructions[4].line, 14);
        let e = parse("FROM x\nRUN <<EOF\necho\n").unwrap_err();
        assert!(e.to_string().contains("line 2"));
    }
}
