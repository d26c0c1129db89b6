//! `--explain-flink` for the guide's stage-C examples: `TOP_K_ITEMS_TUMBLING` as a Window
//! Top-N, a reference-data JOIN as a regular join with a filesystem table over the same file,
//! and the log parsers in a subquery as one REGEXP_EXTRACT / SPLIT_INDEX per column. The
//! printed SQL's shape is checked here; `scripts/flink-check` runs it on Flink.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::path::PathBuf;

use common::run_window;
use kds_window::sql::{explain_app, parse_app, parse_schema_json, FlinkOptions, Schema};

const TOP_K_SQL: &str = include_str!("golden/top_k_items.kda.sql");
const REFERENCE_SQL: &str = include_str!("golden/reference_data.kda.sql");
const DEMO_SCHEMA: &str = include_str!("golden/demo_stream.schema.json");

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn schema(name: &str) -> Schema {
    parse_schema_json(&std::fs::read_to_string(golden(name)).unwrap()).unwrap()
}

fn explain_with(sql: &str, schema: &Schema, opts: &FlinkOptions) -> Result<String, String> {
    explain_app(&parse_app(sql).unwrap(), schema, opts).map_err(|e| e.to_string())
}

fn explain(sql: &str, schema: &Schema) -> Result<String, String> {
    explain_with(sql, schema, &FlinkOptions::default())
}

fn assert_has(sql: &str, parts: &[&str]) {
    for part in parts {
        assert!(sql.contains(part), "missing {part}:\n{sql}");
    }
}

fn refused(result: Result<String, String>, why: &str) {
    let err = result.unwrap_err();
    assert!(
        err.contains("--explain-flink does not translate") && err.contains(why),
        "{err}"
    );
}

#[test]
fn top_k_becomes_a_window_top_n_over_a_tumble_count() {
    let sql = explain(TOP_K_SQL, &schema("top_k_items.schema.json")).unwrap();
    assert_has(
        &sql,
        &[
            "  `ingest_time` AS CURRENT_TIMESTAMP,\n  WATERMARK FOR `ingest_time` AS `ingest_time`\n",
            "  window_end AS `ROWTIME`,\n  CAST(`item` AS STRING) AS `ITEM`,\n  CAST(`item_count` AS DOUBLE) AS `ITEM_COUNT`\n",
            "ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY `item_count` DESC, `item` ASC) AS `rownum`",
            "SELECT window_start, window_end, `column1` AS `item`, COUNT(*) AS `item_count`",
            "TUMBLE(TABLE `SOURCE_SQL_STREAM_001`, DESCRIPTOR(`ingest_time`), INTERVAL '60' SECOND))",
            "WHERE `column1` IS NOT NULL\n    GROUP BY window_start, window_end, `column1`",
            "WHERE `rownum` <= 10;",
        ],
    );
    // As the guide edits it: the demo stream's ticker, the top 3, a 10-second window; the
    // counted column found ignoring case, as kds-window finds it.
    let edited = TOP_K_SQL
        .replace("'column1'", "'ticker_symbol'")
        .replace("10,", "3,")
        .replace("60 ", "10 ");
    let sql = explain(&edited, &parse_schema_json(DEMO_SCHEMA).unwrap()).unwrap();
    assert_has(
        &sql,
        &[
            "`TICKER_SYMBOL` AS `item`",
            "INTERVAL '10' SECOND",
            "WHERE `rownum` <= 3;",
        ],
    );
}

#[test]
fn top_k_values_go_to_the_first_insert_target_in_declaration_order() {
    // The INSERT's column list puts the value in ITEM, declared second.
    let sql = TOP_K_SQL
        .replace(
            "ITEM VARCHAR(1024), \n             ITEM_COUNT DOUBLE",
            "ITEM_COUNT BIGINT, ITEM VARCHAR(1024)",
        )
        .replace(
            "INSERT INTO \"DESTINATION_SQL_STREAM\"",
            "INSERT INTO \"DESTINATION_SQL_STREAM\" (ITEM, ITEM_COUNT)",
        );
    let out = explain(&sql, &schema("top_k_items.schema.json")).unwrap();
    assert_has(
        &out,
        &["  CAST(`item_count` AS BIGINT) AS `ITEM_COUNT`,\n  CAST(`item` AS STRING) AS `ITEM`\n"],
    );
}

fn with_reference(flag: String) -> FlinkOptions {
    FlinkOptions {
        reference_data: vec![flag],
        ..FlinkOptions::default()
    }
}

#[test]
fn a_reference_join_reads_the_same_csv_file_through_a_view_without_its_header() {
    let csv = golden("reference_data.csv");
    let opts = with_reference(format!("CompanyName={}", csv.display()));
    let demo = parse_schema_json(DEMO_SCHEMA).unwrap();
    let sql = explain_with(REFERENCE_SQL, &demo, &opts).unwrap();
    assert_has(
        &sql,
        &[
            "CREATE TABLE `CompanyName_file` (\n  `Ticker` STRING,\n  `Company` STRING\n) WITH (\n  'connector' = 'filesystem',",
            &format!("'path' = '{}'", csv.display()),
            "'format' = 'csv'",
            "CREATE TEMPORARY VIEW `CompanyName` AS\nSELECT TRIM(`Ticker`) AS `Ticker`, TRIM(`Company`) AS `Company`\nFROM `CompanyName_file`\nWHERE TRIM(`Ticker`) IS DISTINCT FROM 'Ticker' OR TRIM(`Company`) IS DISTINCT FROM 'Company';",
            "CAST(`CompanyName`.`Company` AS STRING) AS `Company`",
            "CAST(`SOURCE_SQL_STREAM_001`.`SECTOR` AS STRING) AS `sector`",
            "FROM `SOURCE_SQL_STREAM_001`\nLEFT JOIN `CompanyName` ON CAST(`SOURCE_SQL_STREAM_001`.`TICKER_SYMBOL` AS STRING) = CAST(`CompanyName`.`Ticker` AS STRING);",
        ],
    );
    // An inner join stays one.
    let inner = explain_with(&REFERENCE_SQL.replace("LEFT JOIN", "JOIN"), &demo, &opts).unwrap();
    assert_has(&inner, &["\nJOIN `CompanyName` ON "]);
    assert!(!inner.contains("LEFT JOIN"), "{inner}");
}

#[test]
fn a_reference_join_on_a_json_lines_file_types_its_columns_and_refuses_an_array() {
    let dir = std::env::temp_dir().join(format!("kds-flink-ref-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lines = dir.join("companies.json");
    std::fs::write(
        &lines,
        "{\"Ticker\":\"AMZN\",\"Company\":\"Amazon\",\"Employees\":1500000}\n{\"Ticker\":\"NFLX\",\"Company\":null,\"Listed\":true}\n",
    )
    .unwrap();
    let demo = parse_schema_json(DEMO_SCHEMA).unwrap();
    let opts = with_reference(format!("CompanyName={}", lines.display()));
    let sql = explain_with(REFERENCE_SQL, &demo, &opts).unwrap();
    assert_has(
        &sql,
        &[
            // Each key once, typed by its first non-null value.
            "CREATE TABLE `CompanyName` (\n  `Company` STRING,\n  `Employees` BIGINT,\n  `Ticker` STRING,\n  `Listed` BOOLEAN\n)",
            "'format' = 'json'",
        ],
    );
    assert!(!sql.contains("TEMPORARY VIEW"), "{sql}");
    let array = dir.join("companies-array.json");
    std::fs::write(&array, "[{\"Ticker\":\"AMZN\",\"Company\":\"Amazon\"}]").unwrap();
    let opts = with_reference(format!("CompanyName={}", array.display()));
    refused(
        explain_with(REFERENCE_SQL, &demo, &opts),
        "a JOIN with a JSON array file (Flink's json format reads one object per line)",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_reference_join_without_its_file_names_the_flag() {
    let demo = parse_schema_json(DEMO_SCHEMA).unwrap();
    let err = explain(REFERENCE_SQL, &demo).unwrap_err();
    assert!(
        err.contains("give --reference-data CompanyName=FILE"),
        "{err}"
    );
}

#[test]
fn the_cli_passes_reference_data_to_explain_flink() {
    let csv = golden("reference_data.csv");
    let sql = golden("reference_data.kda.sql");
    let demo = golden("demo_stream.schema.json");
    let flag = format!("CompanyName={}", csv.display());
    let args = [
        "--sql",
        sql.to_str().unwrap(),
        "--explain-flink",
        "--schema",
        demo.to_str().unwrap(),
        "--reference-data",
        &flag,
    ];
    let out = run_window(&args, "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_has(&text, &[&format!("'path' = '{}'", csv.display())]);
}

#[test]
fn regex_log_parse_columns_become_regexp_extract_groups_of_the_whole_match() {
    let sql = explain(
        include_str!("golden/regex_log_parse.kda.sql"),
        &schema("regex_log_parse.schema.json"),
    )
    .unwrap();
    let group = |i: usize| {
        format!(
            "CAST(CAST(REGEXP_EXTRACT(`LOGENTRY`, '^(?:(\\w.+) (\\d.+) (\\w.+) (\\w.+))\\z', {i}) AS VARCHAR(1024)) AS STRING)"
        )
    };
    assert_has(
        &sql,
        &[
            "  CAST(`LOGENTRY` AS STRING) AS `logentry`,\n",
            &format!("  {} AS `match1`,\n", group(1)),
            &format!("  {} AS `match2`\n", group(2)),
            "FROM `SOURCE_SQL_STREAM_001`;",
        ],
    );
}

#[test]
fn w3c_log_parse_becomes_the_regex_kds_window_compiles_its_format_to() {
    let sql = explain(
        include_str!("golden/w3c_log_parse.kda.sql"),
        &schema("w3c_log_parse.schema.json"),
    )
    .unwrap();
    assert_has(
        &sql,
        &[
            r#"REGEXP_EXTRACT(`log`, '^([^ ]*) ([^ ]*) ([^ ]*) (\[[^\]]*\]) "([^"]*)" ([^ ]*) (.*?)\z', 4)"#,
            "AS `column7`\nFROM `SOURCE_SQL_STREAM_001`;",
        ],
    );
}

const VARIABLE_SQL: &str = include_str!("golden/variable_column_log_parse.kda.sql");

#[test]
fn variable_column_log_parse_fields_become_zero_based_split_index_calls() {
    let sql = explain(
        VARIABLE_SQL,
        &schema("variable_column_log_parse.schema.json"),
    )
    .unwrap();
    assert_has(
        &sql,
        &[
            "  CAST(`Col_A` AS STRING) AS `column_A`,\n",
            "  CAST(CAST(SPLIT_INDEX(`Col_E_Unstructured`, ',', 0) AS VARCHAR(16)) AS STRING) AS `COL_1`,\n",
            "  CAST(CAST(SPLIT_INDEX(`Col_E_Unstructured`, ',', 2) AS VARCHAR(16)) AS STRING) AS `COL_3`\n",
        ],
    );
}

#[test]
fn what_split_index_cannot_do_is_refused_with_the_reason() {
    let schema = schema("variable_column_log_parse.schema.json");
    let quoted = VARIABLE_SQL.replace("',')", "',', '\\', '\"')");
    assert_ne!(quoted, VARIABLE_SQL);
    refused(
        explain(&quoted, &schema),
        "VARIABLE_COLUMN_LOG_PARSE with an escape or quote character",
    );
    let typed = VARIABLE_SQL.replace("COL_3 TYPE VARCHAR(16)", "COL_3 TYPE INTEGER");
    assert_ne!(typed, VARIABLE_SQL);
    refused(
        explain(&typed, &schema),
        "VARIABLE_COLUMN_LOG_PARSE columns of a type other than VARCHAR",
    );
}

#[test]
fn a_subquery_where_and_the_pump_s_where_both_apply() {
    let sql = include_str!("golden/regex_log_parse.kda.sql")
        .replace(
            "FROM SOURCE_SQL_STREAM_001) AS T;",
            "FROM SOURCE_SQL_STREAM_001 WHERE LOGENTRY LIKE '2%') AS T WHERE T.REC.COLUMN2 IS NOT NULL;",
        );
    let out = explain(&sql, &schema("regex_log_parse.schema.json")).unwrap();
    assert_has(
        &out,
        &[
            "FROM `SOURCE_SQL_STREAM_001`\nWHERE (`LOGENTRY` LIKE '2%') AND (CAST(REGEXP_EXTRACT(`LOGENTRY`, ",
            ", 2) AS VARCHAR(1024)) IS NOT NULL);",
        ],
    );
}

#[test]
fn a_log_parser_outside_a_subquery_select_list_is_refused() {
    let sql = r#"CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (logentry VARCHAR(64));
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM LOGENTRY FROM SOURCE_SQL_STREAM_001
    WHERE REGEX_LOG_PARSE(LOGENTRY, '(\w+) .*') IS NOT NULL;"#;
    refused(
        explain(sql, &schema("regex_log_parse.schema.json")),
        "a log parser outside a subquery's select list",
    );
}
