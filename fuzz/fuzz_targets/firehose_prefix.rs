//! The Firehose prefix evaluator (`kds_s3sink::key`): arbitrary prefixes, error prefixes,
//! arrival times, time zones and partition values. Parsing and evaluation return errors, never
//! panic; what they accept keeps Firehose's rules.
//!
//! Input (lossy UTF-8, fields split at `\n`, missing fields are absent):
//! `main prefix`, `error prefix`, `error-output-type`, `arrival ms`, `time-zone index`,
//! then `NAME=VALUE` partition values. Plain text, so the seeds and dictionary are readable.
#![no_main]

use kds_s3sink::key::{
    evaluate, object_suffix, parse_pattern, EvalContext, Prefixes, Token,
    MAX_EVALUATED_PREFIX_CHARS,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.split('\n');
    let main = fields.next();
    let error = fields.next();
    let error_type = fields.next().unwrap_or("processing-failed").to_string();
    let arrival_ms = fields
        .next()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(1_616_159_748_000);
    let tz_index = fields
        .next()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let tz = chrono_tz::TZ_VARIANTS[tz_index % chrono_tz::TZ_VARIANTS.len()];
    let values: Vec<(String, String)> = fields
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();

    // The pattern parser on its own, with the whole text as the pattern.
    let _ = parse_pattern(&text);

    let Ok(prefixes) = Prefixes::parse(main, error) else {
        return;
    };
    assert!(
        !prefixes.main.tokens().contains(&Token::ErrorOutputType),
        "error-output-type accepted in the main prefix {main:?}"
    );
    assert!(
        !prefixes
            .error
            .tokens()
            .iter()
            .any(|t| matches!(t, Token::PartitionKey(_))),
        "partition key accepted in the error prefix {error:?}"
    );
    let mut random = || "0123456789a".to_string();
    for prefix in [&prefixes.main, &prefixes.error] {
        let mut ctx = EvalContext {
            arrival_ms,
            tz,
            error_output_type: &error_type,
            partition_values: &values,
            random_string: &mut random,
        };
        if let Ok(key) = evaluate(prefix, &mut ctx) {
            assert!(key.chars().count() <= MAX_EVALUATED_PREFIX_CHARS);
        }
    }
    let suffix = object_suffix("lab1-kfh", 1, arrival_ms, tz, &uuid::Uuid::nil(), true);
    assert!(suffix.ends_with(".gz"));
});
