//! Docker's word processing for instruction arguments: variable
//! substitution (`$v`, `${v}`, `${v:-x}`, `${v-x}`, `${v:+x}`, `${v+x}`,
//! `${v:?msg}`), quote removal and escapes, and splitting into words
//! (unquoted expansions are split on whitespace, as BuildKit's lexer does).

/// Looks a variable up; `None` = unset.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    pub escape: char,
}

impl Default for Lexer {
    fn default() -> Self {
        Lexer { escape: '\\' }
    }
}

struct Words {
    words: Vec<String>,
    cur: String,
    /// A word was started (also by an empty quoted string).
    started: bool,
    split: bool,
}

impl Words {
    fn push(&mut self, c: char) {
        self.cur.push(c);
        self.started = true;
    }

    fn push_str(&mut self, s: &str) {
        self.cur.push_str(s);
        self.started = true;
    }

    /// An unquoted expansion: split on whitespace when splitting.
    fn push_split(&mut self, s: &str) {
        if !self.split {
            self.push_str(s);
            return;
        }
        for c in s.chars() {
            if c.is_whitespace() {
                self.end();
            } else {
                self.push(c);
            }
        }
    }

    fn end(&mut self) {
        if self.started {
            self.words.push(std::mem::take(&mut self.cur));
            self.started = false;
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl Lexer {
    pub fn new(escape: char) -> Self {
        Lexer { escape }
    }

    /// Expands and unquotes `s` as one word (whitespace kept).
    pub fn word(&self, s: &str, env: Lookup) -> Result<String, String> {
        let mut w = self.process(s, env, false)?;
        Ok(w.pop().unwrap_or_default())
    }

    /// Expands and unquotes `s`, split into words on unquoted whitespace.
    pub fn words(&self, s: &str, env: Lookup) -> Result<Vec<String>, String> {
        self.process(s, env, true)
    }

    fn process(&self, s: &str, env: Lookup, split: bool) -> Result<Vec<String>, String> {
        let chars: Vec<char> = s.chars().collect();
        let mut w = Words {
            words: Vec::new(),
            cur: String::new(),
            started: !split,
            split,
        };
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == self.escape {
                match chars.get(i + 1) {
                    Some(&n) => {
                        w.push(n);
                        i += 2;
                    }
                    None => {
                        w.push(c);
                        i += 1;
                    }
                }
            } else if c == '\'' {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|&x| x == '\'')
                    .map(|p| start + p)
                    .ok_or("unexpected end of statement while looking for matching single-quote")?;
                let lit: String = chars[start..end].iter().collect();
                w.push_str(&lit);
                i = end + 1;
            } else if c == '"' {
                i = self.double_quoted(&chars, i + 1, env, &mut w)?;
            } else if c == '$' {
                let (val, next) = self.dollar(&chars, i, env)?;
                match val {
                    Some(v) => w.push_split(&v),
                    None => w.push('$'),
                }
                i = next;
            } else if split && c.is_whitespace() {
                w.end();
                i += 1;
            } else {
                w.push(c);
                i += 1;
            }
        }
        w.end();
        if !split && w.words.is_empty() {
            w.words.push(String::new());
        }
        Ok(w.words)
    }

    /// From just after the opening quote; returns the index after the closing one.
    fn double_quoted(
        &self,
        chars: &[char],
        mut i: usize,
        env: Lookup,
        w: &mut Words,
    ) -> Result<usize, String> {
        w.started = true;
        loop {
            let Some(&c) = chars.get(i) else {
                return Err(
                    "unexpected end of statement while looking for matching double-quote".into(),
                );
            };
            if c == '"' {
                return Ok(i + 1);
            }
            if c == self.escape {
                match chars.get(i + 1) {
                    Some(&n) if n == '"' || n == '$' || n == self.escape => {
                        w.push(n);
                        i += 2;
                    }
                    _ => {
                        w.push(c);
                        i += 1;
                    }
                }
            } else if c == '$' {
                let (val, next) = self.dollar(chars, i, env)?;
                match val {
                    Some(v) => w.push_str(&v),
                    None => w.push('$'),
                }
                i = next;
            } else {
                w.push(c);
                i += 1;
            }
        }
    }

    /// At a `$`: the expansion (None = a literal `$`) and the next index.
    fn dollar(
        &self,
        chars: &[char],
        i: usize,
        env: Lookup,
    ) -> Result<(Option<String>, usize), String> {
        match chars.get(i + 1) {
            Some('{') => self.braced(chars, i + 2, env).map(|(v, n)| (Some(v), n)),
            Some(&c) if is_name_char(c) => {
                let mut j = i + 1;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                Ok((Some(env(&name).unwrap_or_default()), j))
            }
            _ => Ok((None, i + 1)),
        }
    }

    /// `${...}` from just after the brace.
    fn braced(&self, chars: &[char], mut i: usize, env: Lookup) -> Result<(String, usize), String> {
        let start = i;
        while i < chars.len() && is_name_char(chars[i]) {
            i += 1;
        }
        let name: String = chars[start..i].iter().collect();
        if name.is_empty() {
            return Err("bad substitution".into());
        }
        match chars.get(i) {
            Some('}') => return Ok((env(&name).unwrap_or_default(), i + 1)),
            None => return Err("missing '}'".into()),
            _ => {}
        }
        let colon = chars[i] == ':';
        if colon {
            i += 1;
        }
        let Some(&modifier) = chars.get(i) else {
            return Err("missing '}'".into());
        };
        i += 1;
        // The word runs to the matching brace (nested `${}` allowed).
        let word_start = i;
        let mut depth = 0usize;
        loop {
            match chars.get(i) {
                None => return Err("missing '}'".into()),
                Some(&c) if c == self.escape => i += 2,
                Some('{') => {
                    depth += 1;
                    i += 1;
                }
                Some('}') if depth == 0 => break,
                Some('}') => {
                    depth -= 1;
                    i += 1;
                }
                _ => i += 1,
            }
        }
        let raw: String = chars[word_start..i.min(chars.len())].iter().collect();
        let next = i + 1;
        let value = env(&name);
        let unset = if colon {
            value.as_deref().is_none_or(str::is_empty)
        } else {
            value.is_none()
        };
        let out = match modifier {
            '-' => {
                if unset {
                    self.word(&raw, env)?
                } else {
                    value.unwrap_or_default()
                }
            }
            '+' => {
                if unset {
                    String::new()
                } else {
                    self.word(&raw, env)?
                }
            }
            '?' => {
                if unset {
                    let msg = self.word(&raw, env)?;
                    return Err(if msg.is_empty() {
                        format!("{name}: is not allowed to be unset")
                    } else {
                        format!("{name}: {msg}")
                    });
                }
                value.unwrap_or_default()
            }
            m => return Err(format!("unsupported modifier ({m}) in substitution")),
        };
        Ok((out, next))
    }
}

/// Splits on unquoted whitespace without expanding or removing quotes
/// (BuildKit splits first, then processes each word on its own).
pub fn split_raw(s: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                } else if c == escape && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
            }
            None if c == escape => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                cur.push(c);
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            None => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "E" => Some(String::new()),
            "SP" => Some("two words".into()),
            _ => None,
        }
    }

    fn word(s: &str) -> String {
        Lexer::default().word(s, &env).unwrap()
    }

    fn words(s: &str) -> Vec<String> {
        Lexer::default().words(s, &env).unwrap()
    }

    #[test]
    fn substitutions() {
        assert_eq!(word("$A"), "alpha");
        assert_eq!(word("${A}x"), "alphax");
        assert_eq!(word("${U:-def}"), "def");
        assert_eq!(word("${E:-def}"), "def");
        assert_eq!(word("${E-def}"), "");
        assert_eq!(word("${A:-def}"), "alpha");
        assert_eq!(word("${A:+set}"), "set");
        assert_eq!(word("${E:+set}"), "");
        assert_eq!(word("${E+set}"), "set");
        assert_eq!(word("${U:+set}"), "");
        assert_eq!(word("${U:-${A}}"), "alpha");
        assert_eq!(word("$U"), "");
        assert_eq!(word("cost $"), "cost $");
        assert!(Lexer::default()
            .word("${U:?need it}", &env)
            .unwrap_err()
            .contains("need it"));
        assert!(Lexer::default().word("${A", &env).is_err());
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(word("'$A'"), "$A");
        assert_eq!(word("\"$A b\""), "alpha b");
        assert_eq!(word("\\$A"), "$A");
        assert_eq!(word("\"a\\\"b\""), "a\"b");
        assert_eq!(word("\"a\\nb\""), "a\\nb");
        assert_eq!(word("a\\ b"), "a b");
        assert_eq!(Lexer::new('`').word("`$A", &env).unwrap(), "$A");
        assert!(Lexer::default().word("'open", &env).is_err());
    }

    #[test]
    fn raw_split_keeps_quotes() {
        assert_eq!(
            split_raw("A=\"x y\" B='1 2' C=a\\ b", '\\'),
            ["A=\"x y\"", "B='1 2'", "C=a\\ b"]
        );
    }

    #[test]
    fn splitting() {
        assert_eq!(words("a  b\tc"), ["a", "b", "c"]);
        assert_eq!(words("\"a b\" c"), ["a b", "c"]);
        assert_eq!(words("$SP x"), ["two", "words", "x"]);
        assert_eq!(words("\"$SP\" x"), ["two words", "x"]);
        assert_eq!(words("'' x"), ["", "x"]);
        assert_eq!(words("x$U y"), ["x", "y"]);
    }
}
