//! obs-flows' integration tests: flows across two real HTTP services on 127.0.0.1 with obs-http's
//! layers, spans in the in-process OTLP receiver, metrics through `/metrics` or a local recorder.

mod external;
mod flows;
mod sampler;
mod work;
