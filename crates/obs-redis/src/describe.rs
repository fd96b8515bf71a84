//! What a span says about a command or a pipeline: the command's name and a summary with the
//! patterns of its keys, built from a [`Cmd`] (async connections) or from the packed bytes the
//! sync `ConnectionLike` receives.

use redis::{Arg, Cmd, Pipeline};

use crate::command::{self, Keys};
use crate::keys::KeyPatterns;

/// The most distinct key patterns a summary lists.
const MAX_PATTERNS: usize = 3;
/// The most distinct commands a pipeline's summary lists.
const MAX_PIPELINE_COMMANDS: usize = 4;

/// A command's recorded name and its summary (`GET user:*`).
pub(crate) fn command(cmd: &Cmd, keys: &KeyPatterns) -> (&'static str, String) {
    let args: Vec<&[u8]> = cmd
        .args_iter()
        .map(|a| match a {
            Arg::Simple(bytes) => bytes,
            _ => &b"0"[..],
        })
        .collect();
    describe(&args, keys)
}

/// The recorded name and summary of a command given as its arguments.
pub(crate) fn describe(args: &[&[u8]], keys: &KeyPatterns) -> (&'static str, String) {
    let Some(first) = args.first() else {
        return (command::OTHER, String::from(command::OTHER));
    };
    let (name, positions) = command::lookup(first);
    let mut summary = String::from(name);
    let numkeys = || {
        std::str::from_utf8(args.get(2)?)
            .ok()?
            .parse::<usize>()
            .ok()
    };
    let mut seen: Vec<(usize, usize)> = Vec::new();
    for i in command::key_indices(positions, args.len(), numkeys) {
        if positions == Keys::EveryOther && (i - 1) % 2 == 1 {
            continue;
        }
        if seen.len() == MAX_PATTERNS {
            break;
        }
        let start = summary.len() + 1;
        summary.push(' ');
        keys.normalize_into(args[i], &mut summary);
        let pattern = &summary[start..];
        if seen.iter().any(|&(s, e)| &summary[s..e] == pattern) {
            summary.truncate(start - 1);
        } else {
            seen.push((start, summary.len()));
        }
    }
    (name, summary)
}

/// A pipeline's summary: its distinct commands' summaries, in order, at most a few.
pub(crate) fn pipeline(pipeline: &Pipeline, keys: &KeyPatterns) -> String {
    summarize(pipeline.cmd_iter().map(|cmd| command(cmd, keys).1))
}

pub(crate) fn summarize(commands: impl Iterator<Item = String>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for summary in commands {
        if parts.len() == MAX_PIPELINE_COMMANDS {
            break;
        }
        if !parts.contains(&summary) {
            parts.push(summary);
        }
    }
    parts.join("; ")
}

/// The commands in packed RESP bytes (what the sync `ConnectionLike` receives): each as its
/// arguments. Stops at the first thing that is not a RESP array of bulk strings.
pub(crate) fn unpack(mut bytes: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut commands = Vec::new();
    while !bytes.is_empty() {
        let Some((args, rest)) = unpack_one(bytes) else {
            break;
        };
        commands.push(args);
        bytes = rest;
    }
    commands
}

fn read_line(bytes: &[u8], prefix: u8) -> Option<(usize, &[u8])> {
    let (&first, rest) = bytes.split_first()?;
    if first != prefix {
        return None;
    }
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    let n = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
    Some((n, &rest[end + 2..]))
}

fn unpack_one(bytes: &[u8]) -> Option<(Vec<&[u8]>, &[u8])> {
    let (count, mut rest) = read_line(bytes, b'*')?;
    let mut args = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let (len, after) = read_line(rest, b'$')?;
        if after.len() < len + 2 {
            return None;
        }
        args.push(&after[..len]);
        rest = &after[len + 2..];
    }
    Some((args, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_hold_names_and_patterns_only() {
        let keys = KeyPatterns::default();
        let (name, summary) = command(redis::cmd("set").arg("user:42").arg("hunter2"), &keys);
        assert_eq!((name, summary.as_str()), ("SET", "SET user:*"));
        let (_, summary) = command(
            redis::cmd("MSET")
                .arg("a:1")
                .arg("v1")
                .arg("b:2")
                .arg("v2")
                .arg("a:3")
                .arg("v3"),
            &keys,
        );
        assert_eq!(summary, "MSET a:* b:*");
        let (_, summary) = command(
            redis::cmd("EVALSHA")
                .arg("abc")
                .arg(2)
                .arg("rl:x:1")
                .arg("rl:y:2")
                .arg("secret"),
            &keys,
        );
        assert_eq!(summary, "EVALSHA rl:x:* rl:y:*");
        let (name, summary) = command(redis::cmd("AUTH").arg("admin").arg("hunter2"), &keys);
        assert_eq!((name, summary.as_str()), ("AUTH", "AUTH"));
        let (name, summary) = command(
            redis::cmd("CONFIG")
                .arg("SET")
                .arg("requirepass")
                .arg("hunter2"),
            &keys,
        );
        assert_eq!((name, summary.as_str()), ("CONFIG", "CONFIG"));
        let (name, _) = command(&redis::cmd("hunter2"), &keys);
        assert_eq!(name, "OTHER");
    }

    #[test]
    fn packed_commands_unpack() {
        let mut pipe = redis::pipe();
        pipe.atomic().set("k:1", "v").get("k:2");
        let packed = pipe.get_packed_pipeline();
        let commands = unpack(&packed);
        let names: Vec<&[u8]> = commands.iter().map(|c| c[0]).collect();
        assert_eq!(names, [&b"MULTI"[..], b"SET", b"GET", b"EXEC"]);
        assert_eq!(commands[1], [&b"SET"[..], b"k:1", b"v"]);
        assert!(unpack(b"*2\r\n$3\r\nGET\r\n$9\r\nshort").is_empty());
        assert!(unpack(b"garbage").is_empty());
    }
}
