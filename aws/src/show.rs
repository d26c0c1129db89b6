//! `--show-config`: what a tool resolved, in the spirit of `aws configure list`: values and
//! where each came from, the access key id masked, never a secret or a session token.

use std::fmt::Write as _;

use crate::args::Service;
use crate::resolve::Resolved;

/// The report, one `name  value  (source)` line each.
pub fn render(resolved: &Resolved, services: &[Service]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "region       {}  ({})",
        resolved.region, resolved.region_source
    );
    for &service in services {
        let endpoint = resolved
            .args
            .custom_endpoint(service)
            .unwrap_or_else(|| format!("default (AWS {} endpoint of the region)", service.name()));
        let _ = writeln!(out, "endpoint     {endpoint}  ({})", service.name());
    }
    let profile = match (&resolved.args.profile, &resolved.profile) {
        (Some(p), _) => format!("{p}  (--profile)"),
        (None, Some(p)) => format!("{p}  (AWS_PROFILE)"),
        (None, None) => "default".to_string(),
    };
    let _ = writeln!(out, "profile      {profile}");
    let _ = writeln!(out, "credentials  {}", resolved.credentials_source);
    let _ = writeln!(out, "access key   {}", resolved.access_key_hint);
    if let Some(expiry) = resolved.expires {
        let secs = expiry
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let _ = writeln!(
            out,
            "expires      {}",
            kds_common::time::rfc3339_ms(secs.saturating_mul(1000) as i64)
        );
    }
    out
}
