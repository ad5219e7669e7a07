//! The one error type of the crate: every variant says where (file, line,
//! column or policy) and what is wrong.

/// What went wrong reading, compiling or tuning policies.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A policy file is not valid TOML or breaks a rule of the language.
    #[error("{origin}:{line}:{column}: {message}")]
    Invalid {
        /// The file (or other origin) the text came from.
        origin: String,
        /// 1-based line of the offending key or value.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Two active policies share a name.
    #[error("two policies are named {name:?} ({first} and {second})")]
    DuplicateName {
        /// The name.
        name: String,
        /// Where the first came from.
        first: String,
        /// Where the second came from.
        second: String,
    },
    /// The policies are valid one by one but cannot be compiled together
    /// (e.g. the automata would be too large).
    #[error("compiling policies: {0}")]
    Compile(String),
    /// A line of a labelled-messages file is wrong.
    #[error("{origin}:{line}: {message}")]
    Labelled {
        /// The file the line came from.
        origin: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_are_one_based() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 9), (2, 3));
        assert_eq!(line_column(text, 1_000), (3, 1));
    }
}
