//! Splitting a job's `command` string into a program and its arguments, the way a POSIX shell
//! would for quoting (`'...'`, `"..."`, backslashes) but without running a shell: no variables,
//! globs or pipes. Prefect's process worker splits its command the same way (`shlex.split`).

/// Why a command could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("command: unterminated {0} quote")]
    Unterminated(char),
    #[error("command: ends with a lone backslash")]
    TrailingBackslash,
    #[error("command: is empty")]
    Empty,
}

/// The words of `command`.
pub fn split(command: &str) -> Result<Vec<String>, CommandError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(other) => word.push(other),
                        None => return Err(CommandError::Unterminated('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped @ ('"' | '\\' | '$' | '`')) => word.push(escaped),
                            Some('\n') => {}
                            Some(other) => {
                                word.push('\\');
                                word.push(other);
                            }
                            None => return Err(CommandError::Unterminated('"')),
                        },
                        Some(other) => word.push(other),
                        None => return Err(CommandError::Unterminated('"')),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(other) => {
                    in_word = true;
                    word.push(other);
                }
                None => return Err(CommandError::TrailingBackslash),
            },
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err(CommandError::Empty);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_quotes_and_escapes() {
        let cases: &[(&str, &[&str])] = &[
            (
                "python -m prefect.engine",
                &["python", "-m", "prefect.engine"],
            ),
            ("  a   b  ", &["a", "b"]),
            (
                r#"sh -c 'echo "hi there"'"#,
                &["sh", "-c", r#"echo "hi there""#],
            ),
            (r#"say "a \"quoted\" word""#, &["say", r#"a "quoted" word"#]),
            (r"one\ word", &["one word"]),
            ("''", &[""]),
            (r#"mixed"quo"'tes'"#, &["mixedquotes"]),
        ];
        for (command, expected) in cases {
            assert_eq!(split(command).unwrap(), *expected, "{command}");
        }
    }

    #[test]
    fn malformed_commands_are_errors() {
        assert_eq!(split("echo 'open"), Err(CommandError::Unterminated('\'')));
        assert_eq!(split("echo \"open"), Err(CommandError::Unterminated('"')));
        assert_eq!(split("echo \\"), Err(CommandError::TrailingBackslash));
        assert_eq!(split("   "), Err(CommandError::Empty));
    }
}
