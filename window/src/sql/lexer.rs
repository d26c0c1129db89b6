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
    let mut lexer = Lexer {
        chars: text.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    while let Some(c) = lexer.peek(0) {
        let pos = lexer.pos();
        let tok = if c.is_whitespace() {
            lexer.advance(1);
            continue;
        } else if lexer.skip_comment(pos)? {
            continue;
        } else if c == '"' || c == '\'' {
            lexer.quoted(c, pos)?
        } else if c.is_ascii_digit()
            || (c == '.' && lexer.peek(1).is_some_and(|d| d.is_ascii_digit()))
        {
            lexer.number(pos)?
        } else if c.is_alphabetic() || c == '_' {
            lexer.word()
        } else {
            lexer.symbol(c, pos)?
        };
        out.push(Token { tok, pos });
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: lexer.pos(),
    });
    Ok(out)
}

/// The text as characters and where the next one stands.
struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).copied()
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.col,
        }
    }

    /// Advances over `n` chars, keeping line/column right.
    fn advance(&mut self, n: usize) {
        for _ in 0..n {
            if self.peek(0) == Some('\n') {
                self.line += 1;
                self.col = 1;
            } else {
                self.col += 1;
            }
            self.i += 1;
        }
    }

    /// Skips a `-- …` or `/* … */` comment at the cursor; false when there is none.
    fn skip_comment(&mut self, pos: Pos) -> Result<bool, SqlError> {
        match (self.peek(0), self.peek(1)) {
            (Some('-'), Some('-')) => {
                while self.peek(0).is_some_and(|c| c != '\n') {
                    self.advance(1);
                }
                Ok(true)
            }
            (Some('/'), Some('*')) => {
                self.advance(2);
                loop {
                    match (self.peek(0), self.peek(1)) {
                        (None, _) => return Err(SqlError::new(pos, "unterminated /* comment")),
                        (Some('*'), Some('/')) => {
                            self.advance(2);
                            return Ok(true);
                        }
                        _ => self.advance(1),
                    }
                }
            }
            _ => Ok(false),
        }
    }

    /// A quoted identifier (`"`) or string literal (`'`); a doubled quote stands for itself.
    fn quoted(&mut self, quote: char, pos: Pos) -> Result<Tok, SqlError> {
        let mut s = String::new();
        self.advance(1);
        loop {
            match self.peek(0) {
                None => {
                    let what = if quote == '"' {
                        "quoted identifier"
                    } else {
                        "string literal"
                    };
                    return Err(SqlError::new(pos, format!("unterminated {what}")));
                }
                Some(q) if q == quote && self.peek(1) == Some(quote) => {
                    s.push(quote);
                    self.advance(2);
                }
                Some(q) if q == quote => {
                    self.advance(1);
                    break;
                }
                Some(other) => {
                    s.push(other);
                    self.advance(1);
                }
            }
        }
        if quote == '\'' {
            return Ok(Tok::Str(s));
        }
        if s.is_empty() {
            return Err(SqlError::new(pos, "empty quoted identifier"));
        }
        Ok(Tok::Ident {
            text: s,
            quoted: true,
        })
    }

    /// `60`, `1.5`, `.5`, `2e3`, `1E-4`: digits and dots, then an exponent when digits follow it.
    fn number(&mut self, pos: Pos) -> Result<Tok, SqlError> {
        let chars = &self.chars;
        let start = self.i;
        let digits_from = |mut j: usize| {
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            j
        };
        let mut j = start;
        while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
            j += 1;
        }
        if j < chars.len() && (chars[j] == 'e' || chars[j] == 'E') {
            let mut k = j + 1;
            if k < chars.len() && (chars[k] == '+' || chars[k] == '-') {
                k += 1;
            }
            if k < chars.len() && chars[k].is_ascii_digit() {
                j = digits_from(k);
            }
        }
        let text: String = chars[start..j].iter().collect();
        if text.matches('.').count() > 1 {
            return Err(SqlError::new(pos, format!("malformed number {text}")));
        }
        self.advance(j - start);
        Ok(Tok::Num(text))
    }

    /// An unquoted identifier or keyword: letters, digits, `_` and `$`.
    fn word(&mut self) -> Tok {
        let start = self.i;
        let mut j = start;
        while self
            .chars
            .get(j)
            .is_some_and(|&c| c.is_alphanumeric() || c == '_' || c == '$')
        {
            j += 1;
        }
        let text: String = self.chars[start..j].iter().collect();
        self.advance(j - start);
        Tok::Ident {
            text,
            quoted: false,
        }
    }

    /// Punctuation or an operator, longest first.
    fn symbol(&mut self, c: char, pos: Pos) -> Result<Tok, SqlError> {
        let rest: String = self.chars[self.i..self.chars.len().min(self.i + 2)]
            .iter()
            .collect();
        let Some(sym) = SYMS.iter().find(|s| rest.starts_with(**s)) else {
            return Err(SqlError::new(pos, format!("unexpected character {c:?}")));
        };
        self.advance(sym.chars().count());
        Ok(Tok::Sym(sym))
    }
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
