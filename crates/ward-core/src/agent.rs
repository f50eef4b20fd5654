//! A user agent string as a person reads it ("Firefox on Linux"): sessions, approvals and
//! new-device notices name devices this way.

/// A short description of the browser or program behind a session, from its user agent.
pub fn describe_agent(user_agent: Option<&str>) -> Option<String> {
    let ua = user_agent?;
    let program = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("ward/", "command-line client"),
        ("reqwest", "reqwest"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    Some(match (program, os) {
        (Some(p), Some(o)) => format!("{p} on {o}"),
        (Some(p), None) => p.to_string(),
        (None, Some(o)) => o.to_string(),
        (None, None) => ua.chars().take(40).collect(),
    })
}
