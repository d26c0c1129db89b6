//! Tokens of the KDA streaming-SQL subset, each with its line and column (both 1-based, columns
//! counted in characters), so every error can point at the offending text.

use super::{Pos, SqlError};

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An identifier or keyword. `quoted` identifiers keep their spelling and are never keywords.
    Ident {
        text: String,
        quoted: bool,
    },
    /// A `'string'` literal (`''` inside is one quote).
    Str(String),
    /// A numeric literal as written (`60`, `1.5`, `2e3`).
    Num(String),
    /// Punctuation and operators: `( ) , ; . * + - / = <> != < <= > >= ||`.
    Sym(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

impl Token {
    /// True for an unquoted identifier equal (ignoring case) to `kw`.
    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Ident { text, quoted: false } if text.eq_ignore_ascii_case(kw))
    }

    pub fn is_sym(&self, s: &str) -> bool {
        matches!(&self.tok, Tok::Sym(x) if *x == s)
    }

    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match &self.tok {
            Tok::Ident { text, quoted: true } => format!("\"{text}\""),
            Tok::Ident { text, .. } => text.to_ascii_uppercase(),
            Tok::Str(s) => format!("'{s}'"),
            Tok::Num(n) => n.clone(),
            Tok::Sym(s) => (*s).to_string(),
            Tok::Eof => "end of input".to_string(),
        }
    }
}

/// Longest first, so `<=` wins over `<`.
const SYMS: [&str; 17] = [
    "<>", "!=", "<=", ">=", "||", "(", ")", ",", ";", ".", "*", "+", "-", "/", "=", "<", ">",
];

/// Splits `text` into tokens. Comments (`-- …` to end of line, `/* … */`) and whitespace are skipped.
pub fn tokenize(text: &str) -> Result<Vec<Token>, SqlError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    // Advances over `n` chars, keeping line/column right.
    let advance = |i: &mut usize, line: &mut u32, col: &mut u32, n: usize| {
        for _ in 0..n {
            if chars.get(*i) == Some(&'\n') {
                *line += 1;
                *col = 1;
            } else {
                *col += 1;
            }
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { line, column: col };
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut col, 1);
            continue;
        }
        if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                advance(&mut i, &mut line, &mut col, 1);
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            advance(&mut i, &mut line, &mut col, 2);
            loop {
                if i >= chars.len() {
                    return Err(SqlError::new(pos, "unterminated /* comment"));
                }
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    advance(&mut i, &mut line, &mut col, 2);
                    break;
                }
                advance(&mut i, &mut line, &mut col, 1);
            }
            continue;
        }
        if c == '"' || c == '\'' {
            // Quoted identifier or string literal; a doubled quote stands for itself.
            let mut s = String::new();
            advance(&mut i, &mut line, &mut col, 1);
            loop {
                match chars.get(i) {
                    None => {
                        let what = if c == '"' {
                            "quoted identifier"
                        } else {
                            "string literal"
                        };
                        return Err(SqlError::new(pos, format!("unterminated {what}")));
                    }
                    Some(&q) if q == c => {
                        if chars.get(i + 1) == Some(&c) {
                            s.push(c);
                            advance(&mut i, &mut line, &mut col, 2);
                        } else {
                            advance(&mut i, &mut line, &mut col, 1);
                            break;
                        }
                    }
                    Some(&other) => {
                        s.push(other);
                        advance(&mut i, &mut line, &mut col, 1);
                    }
                }
            }
            let tok = if c == '"' {
                if s.is_empty() {
                    return Err(SqlError::new(pos, "empty quoted identifier"));
                }
                Tok::Ident {
                    text: s,
                    quoted: true,
                }
            } else {
                Tok::Str(s)
            };
            out.push(Token { tok, pos });
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            if j < chars.len() && (chars[j] == 'e' || chars[j] == 'E') {
                let mut k = j + 1;
                if k < chars.len() && (chars[k] == '+' || chars[k] == '-') {
                    k += 1;
                }
                if k < chars.len() && chars[k].is_ascii_digit() {
                    j = k;
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                }
            }
            let text: String = chars[start..j].iter().collect();
            if text.matches('.').count() > 1 {
                return Err(SqlError::new(pos, format!("malformed number {text}")));
            }
            advance(&mut i, &mut line, &mut col, j - start);
            out.push(Token {
                tok: Tok::Num(text),
                pos,
            });
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            let mut j = i;
            while j < chars.len()
                && (chars[j].is_alphanumeric() || chars[j] == '_' || chars[j] == '$')
            {
                j += 1;
            }
            let text: String = chars[start..j].iter().collect();
            advance(&mut i, &mut line, &mut col, j - start);
            out.push(Token {
                tok: Tok::Ident {
                    text,
                    quoted: false,
                },
                pos,
            });
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        if let Some(sym) = SYMS.iter().find(|s| rest.starts_with(**s)) {
            advance(&mut i, &mut line, &mut col, sym.chars().count());
            out.push(Token {
                tok: Tok::Sym(sym),
                pos,
            });
            continue;
        }
        return Err(SqlError::new(pos, format!("unexpected character {c:?}")));
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: Pos { line, column: col },
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_quotes_and_comments() {
        let toks = tokenize("SELECT \"a\"\"b\", 'it''s' -- c\n  /* x\n */ x.y >= 1.5e3").unwrap();
        let got: Vec<(Tok, u32, u32)> = toks
            .into_iter()
            .map(|t| (t.tok, t.pos.line, t.pos.column))
            .collect();
        let id = |s: &str, q| Tok::Ident {
            text: s.into(),
            quoted: q,
        };
        assert_eq!(
            got,
            vec![
                (id("SELECT", false), 1, 1),
                (id("a\"b", true), 1, 8),
                (Tok::Sym(","), 1, 14),
                (Tok::Str("it's".into()), 1, 16),
                (id("x", false), 3, 5),
                (Tok::Sym("."), 3, 6),
                (id("y", false), 3, 7),
                (Tok::Sym(">="), 3, 9),
                (Tok::Num("1.5e3".into()), 3, 12),
                (Tok::Eof, 3, 17),
            ]
        );
    }

    #[test]
    fn unterminated_literal_points_at_its_start() {
        let err = tokenize("SELECT\n  'abc").unwrap_err();
        assert_eq!((err.line, err.column), (2, 3));
        assert!(err.message.contains("unterminated string literal"));
    }
}
