//! Byte sizes on the command line: `1MiB`, `5MB`, `64KiB`, `1048576`.

/// Parses a size in bytes. Binary (`KiB`, `MiB`, `GiB`) and decimal (`KB`, `MB`, `GB`) units,
/// `B` or no unit for bytes. Usable as a clap `value_parser`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid size '{text}': expected a number, e.g. 1MiB"))?;
    let multiplier: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "K" | "KiB" | "k" => 1024.0,
        "M" | "MiB" => 1024.0 * 1024.0,
        "G" | "GiB" => 1024.0 * 1024.0 * 1024.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        other => {
            return Err(format!(
                "invalid size '{text}': unknown unit '{other}' (use B, KiB, MiB, GiB, KB, MB, GB)"
            ))
        }
    };
    let bytes = value * multiplier;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 || bytes.fract() != 0.0 {
        return Err(format!(
            "invalid size '{text}': not a whole number of bytes"
        ));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("128MiB"), Ok(128 << 20));
        assert_eq!(parse_size("5MB"), Ok(5_000_000));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1048576"), Ok(1048576));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
    }

    #[test]
    fn errors() {
        assert!(parse_size("").is_err());
        assert!(parse_size("5XB").unwrap_err().contains("'5XB'"));
        assert!(parse_size("0.5B").is_err());
    }
}
