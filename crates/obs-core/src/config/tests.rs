//! The configuration from variables and from the builder: every accepted and refused value.

use super::*;

fn from(vars: &[(&str, &str)]) -> Result<ObsConfig, ConfigError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    ObsConfig::from_lookup(|k| vars.get(k).cloned())
}

#[test]
fn defaults_without_variables() {
    let c = from(&[]).unwrap();
    assert!(c.service_name().starts_with("unknown_service"));
    assert_eq!(c.endpoint(), None);
    assert_eq!(c.protocol(), Protocol::Grpc);
    assert_eq!(c.sampler(), SamplerConfig::ParentBasedAlwaysOn);
    assert!(!c.sdk_disabled());
    assert_eq!(c.log_filter(), "info");
    assert_eq!(c.log_format(), LogFormat::Text);
}

#[test]
fn valid_values_of_every_variable() {
    let c = from(&[
        ("OTEL_SERVICE_NAME", "checkout"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=prod, team=a%20b,service.name=ignored",
        ),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ("OTEL_SDK_DISABLED", "TRUE"),
        ("RUST_LOG", "warn,my_app=debug"),
        ("LOG_FORMAT", "json"),
    ])
    .unwrap();
    assert_eq!(c.service_name(), "checkout");
    assert_eq!(
        c.resource_attributes()[..2],
        [
            ("deployment.environment.name".into(), "prod".into()),
            ("team".into(), "a b".into())
        ]
    );
    assert_eq!(c.endpoint(), Some("http://127.0.0.1:4318"));
    assert_eq!(c.protocol(), Protocol::HttpProtobuf);
    assert_eq!(c.sampler(), SamplerConfig::ParentBasedTraceIdRatio(0.25));
    assert!(c.sdk_disabled());
    assert_eq!(c.log_filter(), "warn,my_app=debug");
    assert_eq!(c.log_format(), LogFormat::Json);
}

#[test]
fn service_name_from_resource_attributes_when_no_service_variable() {
    let c = from(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=billing")]).unwrap();
    assert_eq!(c.service_name(), "billing");
}

#[test]
fn every_sampler_name() {
    let cases = [
        ("always_on", None, SamplerConfig::AlwaysOn),
        ("always_off", None, SamplerConfig::AlwaysOff),
        (
            "traceidratio",
            Some("0.5"),
            SamplerConfig::TraceIdRatio(0.5),
        ),
        ("traceidratio", None, SamplerConfig::TraceIdRatio(1.0)),
        (
            "parentbased_always_on",
            None,
            SamplerConfig::ParentBasedAlwaysOn,
        ),
        (
            "parentbased_always_off",
            None,
            SamplerConfig::ParentBasedAlwaysOff,
        ),
        (
            "parentbased_traceidratio",
            Some("0"),
            SamplerConfig::ParentBasedTraceIdRatio(0.0),
        ),
    ];
    for (name, arg, expected) in cases {
        let mut vars = vec![("OTEL_TRACES_SAMPLER", name)];
        if let Some(arg) = arg {
            vars.push(("OTEL_TRACES_SAMPLER_ARG", arg));
        }
        assert_eq!(from(&vars).unwrap().sampler(), expected, "{name}");
    }
}

#[test]
fn invalid_values_name_variable_value_and_what_is_accepted() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317")],
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://x")],
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
        (
            &[("OTEL_TRACES_SAMPLER", "sometimes")],
            "OTEL_TRACES_SAMPLER",
        ),
        (
            &[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
            ],
            "OTEL_TRACES_SAMPLER_ARG",
        ),
        (
            &[
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "half"),
            ],
            "OTEL_TRACES_SAMPLER_ARG",
        ),
        (
            &[("OTEL_TRACES_SAMPLER_ARG", "-1")],
            "OTEL_TRACES_SAMPLER_ARG",
        ),
        (&[("OTEL_SDK_DISABLED", "yes")], "OTEL_SDK_DISABLED"),
        (&[("RUST_LOG", "info,[")], "RUST_LOG"),
        (&[("LOG_FORMAT", "logfmt")], "LOG_FORMAT"),
        (
            &[("OTEL_RESOURCE_ATTRIBUTES", "novalue")],
            "OTEL_RESOURCE_ATTRIBUTES",
        ),
        (
            &[("OTEL_RESOURCE_ATTRIBUTES", "=x")],
            "OTEL_RESOURCE_ATTRIBUTES",
        ),
        (
            &[("OTEL_RESOURCE_ATTRIBUTES", "k=%zz")],
            "OTEL_RESOURCE_ATTRIBUTES",
        ),
    ];
    for (vars, variable) in cases {
        let err = from(vars).expect_err(variable);
        assert_eq!(err.variable, *variable);
        let message = err.to_string();
        let value = vars.iter().find(|(k, _)| k == variable).unwrap().1;
        assert!(message.contains(variable), "{message}");
        assert!(message.contains(value), "{message}");
        assert!(message.contains("expected"), "{message}");
    }
}

#[test]
fn blank_variables_count_as_unset() {
    let c = from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " "), ("LOG_FORMAT", "")]).unwrap();
    assert_eq!(c.endpoint(), None);
    assert_eq!(c.log_format(), LogFormat::Text);
}

#[test]
fn batch_span_processor_variables() {
    let c = from(&[
        ("OTEL_BSP_SCHEDULE_DELAY", "30000"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "2500"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "256"),
    ])
    .unwrap();
    assert_eq!(c.export_interval, Duration::from_secs(30));
    assert_eq!(c.export_timeout, Duration::from_millis(2500));
    assert_eq!((c.span_queue_size, c.export_batch_size), (4096, 256));
    for bad in ["0", "-1", "soon", "1.5"] {
        let err = from(&[("OTEL_BSP_SCHEDULE_DELAY", bad)]).unwrap_err();
        assert_eq!(err.variable, "OTEL_BSP_SCHEDULE_DELAY", "{bad}");
    }
}

#[test]
fn errors_print_their_message_under_debug_too() {
    // `main` returning `Result<(), Box<dyn Error>>` prints the error with `Debug`.
    let err: Box<dyn std::error::Error> =
        Box::new(from(&[("OTEL_TRACES_SAMPLER", "sometimes")]).unwrap_err());
    let printed = format!("{err:?}");
    assert!(
        printed.starts_with(r#"invalid value "sometimes" for OTEL_TRACES_SAMPLER: expected "#),
        "{printed}"
    );
    assert_eq!(printed, err.to_string());
}
