//! The built binary off a terminal: rows in → an SVG whose lines carry exactly those points,
//! a PNG of the asked size, and the input passed through byte for byte.

#![allow(clippy::unwrap_used)] // test code

mod common;

use std::fs;

use common::{kds_chart, minute_rows, run_with_input};

/// `points="x,y x,y ..."` of every data line (drawn 2 px wide; axes and ticks are 1 px
/// polylines), in document order.
fn polylines(svg: &str) -> Vec<Vec<(f64, f64)>> {
    svg.split("<polyline")
        .skip(1)
        .filter(|element| element[..element.find("/>").unwrap()].contains("stroke-width=\"2\""))
        .map(|element| {
            let start = element.find("points=\"").unwrap() + "points=\"".len();
            let end = start + element[start..].find('"').unwrap();
            element[start..end]
                .split_whitespace()
                .map(|pair| {
                    let (x, y) = pair.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .collect()
}

/// Checks that the pixels are one affine image of the data (x grows right, y grows up), so
/// every drawn point is the input point on the panel's axes. Pixels are whole numbers: 1 px
/// tolerance.
fn assert_affine_image(pixels: &[(f64, f64)], data: &[(f64, f64)]) {
    assert_eq!(
        pixels.len(),
        data.len(),
        "one drawn point per row: {pixels:?}"
    );
    let (first, last) = (0, data.len() - 1);
    let scale_x = (pixels[last].0 - pixels[first].0) / (data[last].0 - data[first].0);
    let (lo, hi) = data.iter().enumerate().fold((0, 0), |(lo, hi), (i, p)| {
        (
            if p.1 < data[lo].1 { i } else { lo },
            if p.1 > data[hi].1 { i } else { hi },
        )
    });
    let scale_y = (pixels[hi].1 - pixels[lo].1) / (data[hi].1 - data[lo].1);
    assert!(scale_x > 0.0, "later x drawn further right");
    assert!(scale_y < 0.0, "larger y drawn higher");
    for (pixel, point) in pixels.iter().zip(data) {
        let want_x = pixels[first].0 + (point.0 - data[first].0) * scale_x;
        let want_y = pixels[lo].1 + (point.1 - data[lo].1) * scale_y;
        assert!(
            (pixel.0 - want_x).abs() <= 1.0,
            "x of {point:?}: {pixel:?}, want {want_x}"
        );
        assert!(
            (pixel.1 - want_y).abs() <= 1.0,
            "y of {point:?}: {pixel:?}, want {want_y}"
        );
    }
}

#[test]
fn svg_lines_carry_the_rows_points_in_order() {
    let counts = [598.0, 610.0, 12.0, 590.0, 1200.0, 640.0];
    let sums = [30112.0, 29000.0, 700.0, 31000.0, 55000.0, 30500.0];
    let (input, xs) = minute_rows(&[("", &counts, &sums)]);
    let dir = tempfile::tempdir().unwrap();
    let svg_path = dir.path().join("out.svg");
    let out = run_with_input(
        &mut kds_chart(&[
            "--y",
            "count_tno,sum_tnum",
            "--x",
            "window_end",
            "--svg",
            svg_path.to_str().unwrap(),
        ]),
        &input,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines = polylines(&fs::read_to_string(&svg_path).unwrap());
    assert_eq!(lines.len(), 2, "one line per --y field");
    let points = |ys: &[f64]| {
        xs.iter()
            .copied()
            .zip(ys.iter().copied())
            .collect::<Vec<_>>()
    };
    assert_affine_image(&lines[0], &points(&counts));
    assert_affine_image(&lines[1], &points(&sums));
    assert!(
        lines[0].iter().all(|p| p.1 < lines[1][0].1),
        "panels stacked in --y order"
    );
}

#[test]
fn svg_draws_one_line_per_group_with_that_groups_rows() {
    let (a, b) = ([5.0, 7.0, 6.0, 9.0], [50.0, 20.0, 40.0, 30.0]);
    let (input, xs) = minute_rows(&[("AAPL", &a, &a), ("MSFT", &b, &b)]);
    let dir = tempfile::tempdir().unwrap();
    let svg_path = dir.path().join("groups.svg");
    let args = [
        "--y",
        "count_tno",
        "--x",
        "window_end",
        "--group-by",
        "tic",
        "--svg",
        svg_path.to_str().unwrap(),
    ];
    let out = run_with_input(&mut kds_chart(&args), &input);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let svg = fs::read_to_string(&svg_path).unwrap();
    let lines = polylines(&svg);
    assert_eq!(lines.len(), 2, "one line per group");
    // Both groups share the panel's axes: map them together.
    let pixels: Vec<_> = lines.concat();
    let data: Vec<_> = [&a, &b]
        .iter()
        .flat_map(|ys| xs.iter().copied().zip(ys.iter().copied()))
        .collect();
    assert_affine_image(&pixels, &data);
    assert!(
        svg.contains("\nAAPL\n</text>") && svg.contains("\nMSFT\n</text>"),
        "legend names the groups"
    );
}

#[test]
fn png_has_the_asked_size_and_draws_without_system_fonts() {
    let (input, _) = minute_rows(&[("", &[1.0, 3.0, 2.0], &[1.0, 3.0, 2.0])]);
    let dir = tempfile::tempdir().unwrap();
    let png_path = dir.path().join("out.png");
    let args = [
        "--y",
        "count_tno",
        "--x",
        "window_end",
        "--png",
        png_path.to_str().unwrap(),
        "--size",
        "640x360",
        "--title",
        "per minute",
    ];
    // No font configuration reachable: the embedded font must be enough.
    let mut cmd = kds_chart(&args);
    cmd.env("FONTCONFIG_PATH", dir.path())
        .env("HOME", dir.path());
    let out = run_with_input(&mut cmd, &input);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let decoder = png::Decoder::new(fs::File::open(&png_path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let info = reader.info();
    assert_eq!((info.width, info.height), (640, 360));
    let mut pixels = vec![0; reader.output_buffer_size()];
    reader.next_frame(&mut pixels).unwrap();
    let dark = pixels
        .chunks(3)
        .filter(|p| p.iter().all(|&c| c < 64))
        .count();
    assert!(
        dark > 200,
        "text and axes drawn in black ({dark} dark pixels)"
    );
}

#[test]
fn passes_input_through_byte_for_byte_including_bad_lines() {
    let (mut input, _) = minute_rows(&[("", &[1.0, 2.0], &[3.0, 4.0])]);
    input.extend_from_slice(b"not json\r\n\n{\"window_end\":\"2021-03-19T13:09:00Z\",\"count_tno\":\"many\"}\n\xff\xfe binary\n{\"no_newline\":1}");
    let dir = tempfile::tempdir().unwrap();
    let svg_path = dir.path().join("p.svg");
    let out = run_with_input(
        &mut kds_chart(&[
            "--y",
            "count_tno",
            "--x",
            "window_end",
            "--svg",
            svg_path.to_str().unwrap(),
        ]),
        &input,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(out.stdout, input, "stdout is the input, unchanged");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 4, "one line per bad line: {stderr}");
    for (line, number) in lines.iter().zip([3, 5, 6, 7]) {
        assert!(
            line.starts_with(&format!("kds-chart: line {number}: ")),
            "{line}"
        );
    }
    assert!(
        lines[1].contains("\"count_tno\""),
        "names the field: {}",
        lines[1]
    );
    assert_eq!(
        polylines(&fs::read_to_string(&svg_path).unwrap())[0].len(),
        2,
        "good rows drawn"
    );
}

#[test]
fn many_bad_lines_print_the_first_few_then_a_count() {
    let input: Vec<u8> = (0..20)
        .flat_map(|i| format!("bad {i}\n").into_bytes())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let svg_path = dir.path().join("bad.svg");
    let out = run_with_input(
        &mut kds_chart(&["--y", "n", "--svg", svg_path.to_str().unwrap()]),
        &input,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches(": line ").count(), 5, "{stderr}");
    assert!(stderr.contains("20 bad lines in total"), "{stderr}");
    assert_eq!(out.stdout, input);
}

#[test]
fn usage_errors_exit_2_naming_the_flag() {
    for (args, flag) in [
        (&["--svg", "x.svg"][..], "required"),
        (&["--y", "n", "--size", "5x5", "--svg", "x.svg"], "--size"),
        (&["--y", "n,n", "--svg", "x.svg"], "--y"),
        (
            &["--y", "n", "--max-groups", "0", "--svg", "x.svg"],
            "--max-groups",
        ),
    ] {
        let out = run_with_input(&mut kds_chart(args), b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(flag),
            "{args:?}: {out:?}"
        );
    }
}

#[test]
fn version_and_env_vars() {
    let out = kds_chart(&["-V"]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("kds-chart {}", env!("CARGO_PKG_VERSION"))
    );
    let (input, _) = minute_rows(&[("", &[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0])]);
    let dir = tempfile::tempdir().unwrap();
    let svg_path = dir.path().join("env.svg");
    let mut cmd = kds_chart(&[]);
    cmd.env("KDS_CHART_Y", "count_tno,sum_tnum")
        .env("KDS_CHART_X", "window_end")
        .env("KDS_CHART_SVG", &svg_path);
    let out = run_with_input(&mut cmd, &input);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(polylines(&fs::read_to_string(&svg_path).unwrap()).len(), 2);
}

#[test]
fn without_any_terminal_the_live_mode_only_passes_through() {
    let (mut input, _) = minute_rows(&[("", &[1.0, 2.0], &[3.0, 4.0])]);
    input.extend_from_slice(b"bad\n");
    let out = run_with_input(&mut kds_chart(&["--y", "count_tno"]), &input);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(out.stdout, input, "stdout is the input, unchanged");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no terminal to draw on"), "{stderr}");
    assert!(stderr.contains("line 3: not valid JSON"), "{stderr}");
}
