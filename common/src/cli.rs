//! The command-line front door every tool shares: parsing with clap's full usage errors,
//! `-V/--version`, and the hidden `--generate KIND` that prints a man page or a shell
//! completion script (used by `scripts/install`).
//!
//! A new tool needs only `fn main() { kds_common::cli::main_with("kds-x", kds_x::run) }`
//! with a `#[derive(Parser)] #[command(name = "kds-x", version)]` argument struct.

use std::ffi::OsString;
use std::io::Write;

use clap::error::ErrorKind;
use clap::{Arg, ArgMatches, Command, Parser};

use crate::exit::{report, Exit};

/// Id of the hidden flag that prints generated files instead of running the tool.
const GENERATE: &str = "generate";

/// What `--generate KIND` writes on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Generate {
    /// A roff man page (section 1).
    Man,
    CompleteBash,
    CompleteZsh,
    CompleteFish,
}

impl Generate {
    /// Every kind, in the order `scripts/install` writes them.
    pub const ALL: [Generate; 4] = [
        Generate::Man,
        Generate::CompleteBash,
        Generate::CompleteZsh,
        Generate::CompleteFish,
    ];
}

/// The tool's clap command plus the hidden `--generate KIND` flag. The flag is exclusive, so
/// required flags (`--stream`) need not be given with it.
pub fn command<A: Parser>() -> Command {
    A::command().arg(
        Arg::new(GENERATE)
            .long(GENERATE)
            .value_name("KIND")
            .value_parser(clap::value_parser!(Generate))
            .exclusive(true)
            .hide(true)
            .help("Print a man page or a completion script on stdout and exit"),
    )
}

/// Writes the man page or completion script of `cmd` (the tool's own command, without the
/// hidden flag) to `out`.
pub fn generate(kind: Generate, mut cmd: Command, out: &mut dyn Write) -> std::io::Result<()> {
    use clap_complete::Shell;
    let name = cmd.get_name().to_string();
    let shell = match kind {
        Generate::Man => return clap_mangen::Man::new(cmd).render(out),
        Generate::CompleteBash => Shell::Bash,
        Generate::CompleteZsh => Shell::Zsh,
        Generate::CompleteFish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, name, out);
    Ok(())
}

/// What parsing the command line asks for.
pub enum Parsed<A> {
    /// Run the tool with these arguments.
    Run(A),
    /// `--generate KIND` was given.
    Generate(Generate),
}

/// Parses `args` (program name first). Errors are clap's, usage or `--help`/`--version`.
pub fn try_parse_from<A: Parser, I, T>(args: I) -> Result<Parsed<A>, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut cmd = command::<A>();
    let matches: ArgMatches = cmd.try_get_matches_from_mut(args)?;
    if let Some(kind) = matches.get_one::<Generate>(GENERATE) {
        return Ok(Parsed::Generate(*kind));
    }
    A::from_arg_matches(&matches)
        .map(Parsed::Run)
        .map_err(|e| e.format(&mut cmd))
}

/// The text of a clap usage error as the tools print it: clap's whole message (the flag
/// named, the "similar argument" tip, the valid values) and the usage line, after `tool: `
/// instead of clap's `error: `.
pub fn usage_text(tool: &str, err: &clap::Error) -> String {
    let text = err.render().to_string();
    let body = text.trim_start_matches("error: ").trim_end();
    format!("{tool}: {body}")
}

/// Exit status and output for a clap error: `--help` and `--version` print on stdout and
/// exit 0; every other error is a usage error, printed whole on stderr, exit 2.
fn exit_on_clap_error(tool: &str, err: clap::Error) -> ! {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // A closed stdout (`kds-put --help | head -1`) is not an error.
            let _ = err.print();
            std::process::exit(Exit::Ok.code())
        }
        _ => {
            crate::diag!("{}", usage_text(tool, &err));
            std::process::exit(Exit::Usage.code())
        }
    }
}

/// Parses the arguments, runs the tool, prints any error and exits: 0 ok, 1 failure, 2 usage.
pub fn main_with<A: Parser>(tool: &str, run: impl FnOnce(A) -> anyhow::Result<Exit>) -> ! {
    let args = match try_parse_from::<A, _, _>(std::env::args_os()) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Generate(kind)) => {
            let mut stdout = std::io::stdout().lock();
            let written = generate(kind, A::command(), &mut stdout).and_then(|()| stdout.flush());
            let result = written
                .map(|()| Exit::Ok)
                .map_err(|e| anyhow::Error::new(e).context("writing --generate output"));
            std::process::exit(report(tool, result).code())
        }
        Err(err) => exit_on_clap_error(tool, err),
    };
    std::process::exit(report(tool, run(args)).code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// A stand-in tool: one required flag with a value parser.
    #[derive(Parser, Debug)]
    #[command(name = "kds-demo", version)]
    struct DemoArgs {
        #[arg(long)]
        stream: String,
        #[arg(long, default_value_t = 1)]
        count: u32,
    }

    fn parse(args: &[&str]) -> Result<Parsed<DemoArgs>, clap::Error> {
        try_parse_from::<DemoArgs, _, _>(std::iter::once("kds-demo").chain(args.iter().copied()))
    }

    fn usage_of(args: &[&str]) -> String {
        match parse(args) {
            Err(err) => usage_text("kds-demo", &err),
            Ok(_) => panic!("{args:?} parsed"),
        }
    }

    #[test]
    fn missing_flag_is_named_with_the_usage_line() {
        let text = usage_of(&[]);
        assert!(
            text.starts_with("kds-demo: the following required"),
            "{text}"
        );
        assert!(text.contains("--stream <STREAM>"), "{text}");
        assert!(text.contains("Usage: kds-demo"), "{text}");
    }

    #[test]
    fn near_miss_keeps_the_tip() {
        let text = usage_of(&["--strem", "x"]);
        assert!(
            text.contains("a similar argument exists: '--stream'"),
            "{text}"
        );
    }

    #[test]
    fn generate_skips_required_flags_and_is_hidden() {
        assert!(matches!(
            parse(&["--generate", "man"]),
            Ok(Parsed::Generate(Generate::Man))
        ));
        assert!(parse(&["--generate", "man", "--stream", "s"]).is_err());
        let help = command::<DemoArgs>().render_long_help().to_string();
        assert!(!help.contains("--generate"), "{help}");
    }

    #[test]
    fn every_kind_generates_text_naming_the_tool() {
        for kind in Generate::ALL {
            let mut out = Vec::new();
            generate(kind, DemoArgs::command(), &mut out).expect("generate into a Vec");
            let text = String::from_utf8(out).expect("generated text is UTF-8");
            assert!(text.contains("kds-demo"), "{kind:?}");
            assert!(text.contains("stream"), "{kind:?}: {text}");
        }
    }
}
