//! What a command may say about itself: its name (from a fixed table) and where its keys are.
//!
//! Only names in [`COMMANDS`] are recorded; any other first argument becomes `OTHER`, so a
//! mistaken or hostile command name cannot leak into a span name or grow a metric. Arguments are
//! never recorded; keys only as patterns, and only for commands whose key positions are known.
//! Commands that carry credentials (`AUTH`, `HELLO … AUTH`, `MIGRATE … AUTH`, `CONFIG SET`,
//! `ACL SETUSER`) have no key positions, so nothing of theirs but the name is ever looked at.

/// Where a command's keys are among its arguments (after the name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keys {
    /// No keys, or none worth showing (and the credential-carrying commands).
    None,
    /// The first argument.
    First,
    /// The first two arguments (`RENAME`, `SMOVE`, `LMOVE`, `COPY`).
    FirstTwo,
    /// Every argument.
    All,
    /// Every argument but the last (`BLPOP k1 k2 timeout`).
    AllButLast,
    /// Arguments 0, 2, 4, ... (`MSET k v k v`).
    EveryOther,
    /// The count is argument 1, the keys follow (`EVAL script n k1 .. kn args`).
    Numkeys,
}

/// Known commands (upper case, sorted for binary search) and their key positions.
pub(crate) static COMMANDS: &[(&str, Keys)] = &[
    ("ACL", Keys::None),
    ("APPEND", Keys::First),
    ("AUTH", Keys::None),
    ("BITCOUNT", Keys::First),
    ("BLMOVE", Keys::FirstTwo),
    ("BLPOP", Keys::AllButLast),
    ("BRPOP", Keys::AllButLast),
    ("BZPOPMAX", Keys::AllButLast),
    ("BZPOPMIN", Keys::AllButLast),
    ("CLIENT", Keys::None),
    ("CLUSTER", Keys::None),
    ("COMMAND", Keys::None),
    ("CONFIG", Keys::None),
    ("COPY", Keys::FirstTwo),
    ("DBSIZE", Keys::None),
    ("DECR", Keys::First),
    ("DECRBY", Keys::First),
    ("DEL", Keys::All),
    ("DISCARD", Keys::None),
    ("DUMP", Keys::First),
    ("ECHO", Keys::None),
    ("EVAL", Keys::Numkeys),
    ("EVALSHA", Keys::Numkeys),
    ("EVALSHA_RO", Keys::Numkeys),
    ("EVAL_RO", Keys::Numkeys),
    ("EXEC", Keys::None),
    ("EXISTS", Keys::All),
    ("EXPIRE", Keys::First),
    ("EXPIREAT", Keys::First),
    ("EXPIRETIME", Keys::First),
    ("FCALL", Keys::Numkeys),
    ("FCALL_RO", Keys::Numkeys),
    ("FLUSHALL", Keys::None),
    ("FLUSHDB", Keys::None),
    ("FUNCTION", Keys::None),
    ("GEOADD", Keys::First),
    ("GEODIST", Keys::First),
    ("GEOPOS", Keys::First),
    ("GEOSEARCH", Keys::First),
    ("GET", Keys::First),
    ("GETDEL", Keys::First),
    ("GETEX", Keys::First),
    ("GETRANGE", Keys::First),
    ("GETSET", Keys::First),
    ("HDEL", Keys::First),
    ("HELLO", Keys::None),
    ("HEXISTS", Keys::First),
    ("HGET", Keys::First),
    ("HGETALL", Keys::First),
    ("HINCRBY", Keys::First),
    ("HINCRBYFLOAT", Keys::First),
    ("HKEYS", Keys::First),
    ("HLEN", Keys::First),
    ("HMGET", Keys::First),
    ("HMSET", Keys::First),
    ("HSCAN", Keys::First),
    ("HSET", Keys::First),
    ("HSETNX", Keys::First),
    ("HVALS", Keys::First),
    ("INCR", Keys::First),
    ("INCRBY", Keys::First),
    ("INCRBYFLOAT", Keys::First),
    ("INFO", Keys::None),
    ("KEYS", Keys::None),
    ("LINDEX", Keys::First),
    ("LINSERT", Keys::First),
    ("LLEN", Keys::First),
    ("LMOVE", Keys::FirstTwo),
    ("LPOP", Keys::First),
    ("LPOS", Keys::First),
    ("LPUSH", Keys::First),
    ("LPUSHX", Keys::First),
    ("LRANGE", Keys::First),
    ("LREM", Keys::First),
    ("LSET", Keys::First),
    ("LTRIM", Keys::First),
    ("MGET", Keys::All),
    ("MIGRATE", Keys::None),
    ("MSET", Keys::EveryOther),
    ("MSETNX", Keys::EveryOther),
    ("MULTI", Keys::None),
    ("PERSIST", Keys::First),
    ("PEXPIRE", Keys::First),
    ("PEXPIREAT", Keys::First),
    ("PFADD", Keys::First),
    ("PFCOUNT", Keys::All),
    ("PFMERGE", Keys::All),
    ("PING", Keys::None),
    ("PSETEX", Keys::First),
    ("PSUBSCRIBE", Keys::None),
    ("PTTL", Keys::First),
    ("PUBLISH", Keys::None),
    ("PUNSUBSCRIBE", Keys::None),
    ("QUIT", Keys::None),
    ("RENAME", Keys::FirstTwo),
    ("RENAMENX", Keys::FirstTwo),
    ("RESET", Keys::None),
    ("RPOP", Keys::First),
    ("RPOPLPUSH", Keys::FirstTwo),
    ("RPUSH", Keys::First),
    ("RPUSHX", Keys::First),
    ("SADD", Keys::First),
    ("SCAN", Keys::None),
    ("SCARD", Keys::First),
    ("SCRIPT", Keys::None),
    ("SDIFF", Keys::All),
    ("SDIFFSTORE", Keys::All),
    ("SELECT", Keys::None),
    ("SET", Keys::First),
    ("SETEX", Keys::First),
    ("SETNX", Keys::First),
    ("SETRANGE", Keys::First),
    ("SINTER", Keys::All),
    ("SINTERSTORE", Keys::All),
    ("SISMEMBER", Keys::First),
    ("SMEMBERS", Keys::First),
    ("SMISMEMBER", Keys::First),
    ("SMOVE", Keys::FirstTwo),
    ("SPOP", Keys::First),
    ("SRANDMEMBER", Keys::First),
    ("SREM", Keys::First),
    ("SSCAN", Keys::First),
    ("STRLEN", Keys::First),
    ("SUBSCRIBE", Keys::None),
    ("SUNION", Keys::All),
    ("SUNIONSTORE", Keys::All),
    ("TIME", Keys::None),
    ("TOUCH", Keys::All),
    ("TTL", Keys::First),
    ("TYPE", Keys::First),
    ("UNLINK", Keys::All),
    ("UNSUBSCRIBE", Keys::None),
    ("UNWATCH", Keys::None),
    ("WATCH", Keys::All),
    ("XACK", Keys::First),
    ("XADD", Keys::First),
    ("XDEL", Keys::First),
    ("XLEN", Keys::First),
    ("XRANGE", Keys::First),
    ("XREVRANGE", Keys::First),
    ("XTRIM", Keys::First),
    ("ZADD", Keys::First),
    ("ZCARD", Keys::First),
    ("ZCOUNT", Keys::First),
    ("ZINCRBY", Keys::First),
    ("ZRANGE", Keys::First),
    ("ZRANGEBYSCORE", Keys::First),
    ("ZRANK", Keys::First),
    ("ZREM", Keys::First),
    ("ZREMRANGEBYRANK", Keys::First),
    ("ZREMRANGEBYSCORE", Keys::First),
    ("ZREVRANGE", Keys::First),
    ("ZREVRANK", Keys::First),
    ("ZSCORE", Keys::First),
];

/// The recorded name of a command whose name is not in [`COMMANDS`].
pub(crate) const OTHER: &str = "OTHER";

/// The command's recorded name and key positions, from its first argument.
pub(crate) fn lookup(name: &[u8]) -> (&'static str, Keys) {
    COMMANDS
        .binary_search_by(|(known, _)| cmp_upper(known.as_bytes(), name))
        .map_or((OTHER, Keys::None), |i| COMMANDS[i])
}

/// Compares an upper-case name with a name in any case, as if both were upper case.
fn cmp_upper(upper: &[u8], name: &[u8]) -> std::cmp::Ordering {
    upper
        .iter()
        .copied()
        .cmp(name.iter().map(u8::to_ascii_uppercase))
}

/// The indices (among all arguments, the name being 0) of a command's keys, for `argc`
/// arguments; `numkeys` reads the count argument when asked.
pub(crate) fn key_indices(
    keys: Keys,
    argc: usize,
    numkeys: impl FnOnce() -> Option<usize>,
) -> std::ops::Range<usize> {
    let args = argc.saturating_sub(1);
    let (first, count) = match keys {
        Keys::None => (1, 0),
        Keys::First => (1, args.min(1)),
        Keys::FirstTwo => (1, args.min(2)),
        Keys::All | Keys::EveryOther => (1, args),
        Keys::AllButLast => (1, args.saturating_sub(1)),
        Keys::Numkeys => (3, numkeys().unwrap_or(0).min(args.saturating_sub(2))),
    };
    first..first + count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_upper_case_and_unique() {
        for pair in COMMANDS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (name, _) in COMMANDS {
            assert!(
                name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{name}"
            );
        }
    }

    #[test]
    fn lookup_ignores_case_and_folds_unknown_names() {
        assert_eq!(lookup(b"get"), ("GET", Keys::First));
        assert_eq!(lookup(b"HsEt"), ("HSET", Keys::First));
        assert_eq!(lookup(b"evalsha"), ("EVALSHA", Keys::Numkeys));
        assert_eq!(lookup(b"hunter2"), (OTHER, Keys::None));
        assert_eq!(lookup(b""), (OTHER, Keys::None));
        for secret in ["AUTH", "HELLO", "MIGRATE", "CONFIG", "ACL"] {
            assert_eq!(lookup(secret.as_bytes()).1, Keys::None, "{secret}");
        }
    }

    #[test]
    fn key_positions() {
        assert_eq!(key_indices(Keys::First, 3, || None), 1..2);
        assert_eq!(key_indices(Keys::First, 1, || None), 1..1);
        assert_eq!(key_indices(Keys::All, 4, || None), 1..4);
        assert_eq!(key_indices(Keys::AllButLast, 4, || None), 1..3);
        assert_eq!(key_indices(Keys::Numkeys, 6, || Some(2)), 3..5);
        // A count larger than the arguments there are is cut to them.
        assert_eq!(key_indices(Keys::Numkeys, 4, || Some(9)), 3..4);
        assert_eq!(key_indices(Keys::Numkeys, 2, || Some(1)), 3..3);
    }
}
