//! Signal names as Docker accepts them: `SIGTERM`, `TERM`, `term`, `15`,
//! `RTMIN+3` (Linux x86_64 numbering).

use super::error::ContainerError;

pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;

const SIGNALS: &[(&str, i32)] = &[
    ("ABRT", 6),
    ("ALRM", 14),
    ("BUS", 7),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("FPE", 8),
    ("HUP", 1),
    ("ILL", 4),
    ("INT", 2),
    ("IO", 29),
    ("IOT", 6),
    ("KILL", 9),
    ("PIPE", 13),
    ("POLL", 29),
    ("PROF", 27),
    ("PWR", 30),
    ("QUIT", 3),
    ("SEGV", 11),
    ("STKFLT", 16),
    ("STOP", 19),
    ("SYS", 31),
    ("TERM", 15),
    ("TRAP", 5),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("USR1", 10),
    ("USR2", 12),
    ("VTALRM", 26),
    ("WINCH", 28),
    ("XCPU", 24),
    ("XFSZ", 25),
];

const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

pub fn parse(raw: &str) -> Result<i32, ContainerError> {
    let invalid = || ContainerError::InvalidParameter(format!("Invalid signal: {raw}"));
    let s = raw.trim();
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=RTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(invalid())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, n)) = SIGNALS.iter().find(|(k, _)| *k == name) {
        return Ok(*n);
    }
    let rt = |base: i32, off: &str, sign: i32| -> Result<i32, ContainerError> {
        let off: i32 = if off.is_empty() {
            0
        } else {
            off.parse().map_err(|_| invalid())?
        };
        let n = base + sign * off;
        if (RTMIN..=RTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(invalid())
        }
    };
    if let Some(off) = name.strip_prefix("RTMIN") {
        return rt(RTMIN, off.strip_prefix('+').unwrap_or(off), 1);
    }
    if let Some(off) = name.strip_prefix("RTMAX") {
        return rt(RTMAX, off.strip_prefix('-').unwrap_or(off), -1);
    }
    Err(invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("SIGTERM").unwrap(), 15);
        assert_eq!(parse("TERM").unwrap(), 15);
        assert_eq!(parse("term").unwrap(), 15);
        assert_eq!(parse("9").unwrap(), 9);
        assert_eq!(parse("USR1").unwrap(), 10);
        assert_eq!(parse("SIGRTMIN+3").unwrap(), 37);
        assert_eq!(parse("RTMAX-1").unwrap(), 63);
        assert!(parse("NOPE").is_err());
        assert!(parse("0").is_err());
        assert!(parse("65").is_err());
        assert_eq!(parse("x").unwrap_err().to_string(), "Invalid signal: x");
    }
}
