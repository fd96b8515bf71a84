//! A relayed connection: two relay-only peers connect through webrtc-rs's TURN server running
//! in-process on loopback, and `turn_relay_total` counts both.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use obs_testkit::{OtlpReceiver, isolated};
use obs_webrtc::{InstrumentedPeerConnection, PeerContext};
use turn::auth::{AuthHandler, generate_auth_key};
use turn::relay::relay_static::RelayAddressGeneratorStatic;
use turn::server::Server;
use turn::server::config::{ConnConfig, ServerConfig};
use webrtc::peer_connection::{
    PeerConnectionBuilder, RTCConfigurationBuilder, RTCIceServer, RTCIceTransportPolicy,
    SettingEngineBuilder,
};
use webrtc_util::vnet::net::Net;

use crate::peers::{app, init, runtime, sum, wait_connected};

const REALM: &str = "obs.test";
const USER: &str = "obs";
const PASSWORD: &str = "relay-only";

struct Credentials(HashMap<String, Vec<u8>>);

impl AuthHandler for Credentials {
    fn auth_handle(
        &self,
        username: &str,
        _realm: &str,
        _src: SocketAddr,
    ) -> Result<Vec<u8>, turn::Error> {
        self.0
            .get(username)
            .cloned()
            .ok_or(turn::Error::ErrNoSuchUser)
    }
}

async fn turn_server() -> (Server, SocketAddr) {
    let conn = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = conn.local_addr().unwrap();
    let users = HashMap::from([(USER.to_owned(), generate_auth_key(USER, REALM, PASSWORD))]);
    let server = Server::new(ServerConfig {
        conn_configs: vec![ConnConfig {
            conn,
            relay_addr_generator: Box::new(RelayAddressGeneratorStatic {
                relay_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
                address: "127.0.0.1".to_owned(),
                net: Arc::new(Net::new(None)),
            }),
        }],
        realm: REALM.to_owned(),
        auth_handler: Arc::new(Credentials(users)),
        channel_bind_timeout: Duration::from_secs(0),
        alloc_close_notify: None,
    })
    .await
    .unwrap();
    (server, addr)
}

fn relay_only(turn: SocketAddr) -> PeerConnectionBuilder<&'static str> {
    let configuration = RTCConfigurationBuilder::new()
        .with_ice_servers(vec![RTCIceServer {
            urls: vec![format!("turn:{turn}?transport=udp")],
            username: USER.to_owned(),
            credential: PASSWORD.to_owned(),
        }])
        .with_ice_transport_policy(RTCIceTransportPolicy::Relay)
        .build();
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    PeerConnectionBuilder::new()
        .with_configuration(configuration)
        .with_setting_engine(settings)
        .with_udp_addrs(vec!["127.0.0.1:0"])
}

#[test]
fn a_relayed_connection_counts_in_turn_relay_total() {
    isolated(
        "turn::a_relayed_connection_counts_in_turn_relay_total",
        || {
            let receiver = OtlpReceiver::start().unwrap();
            let _guard = init(&receiver);
            runtime().block_on(async {
                let (server, turn) = turn_server().await;
                let (app_a, mut events_a) = app();
                let (app_b, mut events_b) = app();
                let build = |name, handler| {
                    InstrumentedPeerConnection::builder(PeerContext::new("room-9", name, "peer"))
                        .with_stats_interval(Duration::from_millis(100))
                        .build(relay_only(turn), handler)
                };
                let a = Arc::new(build("olga", app_a).await.unwrap());
                let b = Arc::new(build("pete", app_b).await.unwrap());
                a.create_data_channel("chat", None).await.unwrap();
                let offer = a.create_offer().await.unwrap();
                a.set_local_description(offer.clone()).await.unwrap();
                b.set_remote_description(offer).await.unwrap();
                let answer = b.create_answer().await.unwrap();
                b.set_local_description(answer.clone()).await.unwrap();
                a.set_remote_description(answer).await.unwrap();
                let mut forwarders = Vec::new();
                for (mut from, to) in [
                    (events_a.candidates, Arc::clone(&b)),
                    (events_b.candidates, Arc::clone(&a)),
                ] {
                    forwarders.push(tokio::spawn(async move {
                        while let Some(c) = from.recv().await {
                            let _ = to.add_ice_candidate(c).await;
                        }
                    }));
                }
                wait_connected(&mut events_a.states).await;
                wait_connected(&mut events_b.states).await;
                // A few polls see the selected pair.
                let start = std::time::Instant::now();
                while sum("turn_relay_total", &[]) < 2.0 && start.elapsed() < crate::peers::WAIT {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                for forwarder in forwarders {
                    forwarder.abort();
                }
                a.close().await.unwrap();
                b.close().await.unwrap();
                server.close().await.unwrap();
            });
            assert_eq!(sum("turn_relay_total", &[]), 2.0, "both ends relayed");
            let candidates = "webrtc_ice_candidates_total";
            assert!(
                sum(
                    candidates,
                    &[("candidate_type", "relay"), ("direction", "local")]
                ) >= 2.0
            );
            assert_eq!(
                sum(candidates, &[("candidate_type", "host")]),
                0.0,
                "relay-only: no host candidates"
            );
        },
    );
}
