//! Colour for people at a terminal; plain text for pipes, files, and anyone who sets `NO_COLOR`.

use std::io::IsTerminal;
use std::sync::OnceLock;

/// What a piece of text says about the state of things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    /// Done, verified, reachable.
    Good,
    /// Waiting, declined: worth a look.
    Warn,
    /// Failed, overdue, forged: act on it.
    Bad,
}

fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED
        .get_or_init(|| std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal())
}

/// `text` in the colour of `tone` when printing to a terminal. Pad before painting: escape codes
/// would count towards a width.
pub(crate) fn paint(text: &str, tone: Tone) -> String {
    paint_if(enabled(), text, tone)
}

fn paint_if(enabled: bool, text: &str, tone: Tone) -> String {
    if !enabled {
        return text.to_owned();
    }
    let code = match tone {
        Tone::Good => "32",
        Tone::Warn => "33",
        Tone::Bad => "1;31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_when_enabled() {
        assert_eq!(paint_if(false, "overdue", Tone::Bad), "overdue");
        assert_eq!(paint_if(true, "ok", Tone::Good), "\x1b[32mok\x1b[0m");
    }
}
