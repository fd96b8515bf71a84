//! The private redis-server of each test (obs-testkit's, on a free loopback port, stopped on
//! drop) and a redis-rs client for it.

pub(crate) use obs_testkit::servers::Redis as RedisServer;

/// A redis-rs client of the test's server.
pub(crate) trait ClientOf {
    fn client(&self) -> redis::Client;
}

impl ClientOf for RedisServer {
    fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }
}
