use std::path::Path;
use std::time::Duration;

use tulpar_trust::tls::Role;

use super::*;

const EXAMPLE: &str = include_str!("../../../deploy/node.example.toml");

/// A token as `tulpar token new` makes them (the SHA-256 of "Zq0Qp3rY9mWc1vT7sLk2xN8bHf5dJg4aEu6iOy0_-Ab").
const TOKEN: &str = r#"
[[client_api.tokens]]
name = "asycuda"
sha256 = "050571bc4aeeaa01995dcdd35075961b7c9679fa8eec2dd6284f49c96e2721c6"
role = "integrator"
units = ["KZ-AKTAU-PCU", "KZ-ALTYNKOL-PCU"]
"#;

const RANDOM_HASH: &str = "050571bc4aeeaa01995dcdd35075961b7c9679fa8eec2dd6284f49c96e2721c6";

/// The example with `TOKEN` changed from `from` to `to` appended.
fn with_token(from: &str, to: &str) -> String {
    assert!(TOKEN.contains(from), "the token lacks {from}");
    format!("{EXAMPLE}\n{}", TOKEN.replacen(from, to, 1))
}

fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
    Config::from_toml(
        text,
        Path::new("/etc/tulpar/node.toml"),
        vars.collect::<Vec<_>>().into_iter(),
    )
}

fn invalid_field(result: Result<Config, ConfigError>) -> (String, String) {
    match result {
        Err(ConfigError::Invalid { field, rule, .. }) => (field, rule),
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn the_documented_example_loads_with_paths_beside_the_file() {
    let config = load(EXAMPLE, &[]).unwrap();
    assert_eq!(config.country.as_str(), "KZ");
    assert_eq!(config.data_dir, Path::new("/etc/tulpar/data"));
    assert_eq!(config.keys.units_dir, Path::new("/etc/tulpar/node/units"));
    assert_eq!(config.deadlines.urgent, Duration::from_secs(30 * 60));
    // The example ships no token: a token is made for each system with `tulpar token new`.
    assert!(config.client_api.tokens.is_empty());
    assert_eq!(
        config.metrics.listen,
        Some("127.0.0.1:9464".parse().unwrap())
    );
    let config = load(&with_token("", ""), &[]).unwrap();
    assert_eq!(config.client_api.tokens.len(), 1);
    assert_eq!(config.client_api.tokens[0].role, Role::Integrator);
}

#[test]
fn environment_variables_override_fields() {
    let config = load(
        EXAMPLE,
        &[
            ("TULPAR__CLIENT_API__LISTEN", "0.0.0.0:9400"),
            ("TULPAR__DELIVERY__CONCURRENCY", "8"),
            ("TULPAR__LOG__FORMAT", "json"),
            ("UNRELATED", "x"),
        ],
    )
    .unwrap();
    assert_eq!(config.client_api.listen.port(), 9400);
    assert_eq!(config.delivery.concurrency, 8);
    assert_eq!(config.log.format, LogFormat::Json);
}

#[test]
fn bad_values_name_the_field_and_the_rule() {
    let cases = [
        (("country = \"KZ\"", "country = \"XX\""), "country"),
        (("urgent = \"30m\"", "urgent = \"30\""), "deadlines.urgent"),
        (("urgent = \"30m\"", "urgent = \"0s\""), "deadlines.urgent"),
        (
            ("max_backoff = \"60s\"", "max_backoff = \"1ms\""),
            "delivery.max_backoff",
        ),
        (
            ("concurrency = 64", "concurrency = 0"),
            "delivery.concurrency",
        ),
        (
            ("batch_size = 64", "batch_size = 257"),
            "delivery.batch_size",
        ),
        (("level = \"info\"", "level = \"info,[\""), "log.level"),
    ];
    for ((from, to), field) in cases {
        assert!(EXAMPLE.contains(from), "example lacks {from}");
        let (found, rule) = invalid_field(load(&EXAMPLE.replacen(from, to, 1), &[]));
        assert_eq!(found, field, "{to}: {rule}");
        assert!(!rule.is_empty());
    }
    let token_cases = [
        (
            ("role = \"integrator\"", "role = \"boss\""),
            "client_api.tokens[0].role",
        ),
        (
            (
                "\"KZ-AKTAU-PCU\", \"KZ-ALTYNKOL-PCU\"",
                "\"UZ-TASHKENT-PCU\"",
            ),
            "client_api.tokens[0].units[0]",
        ),
        (
            ("sha256 = \"0505", "sha256 = \"zz05"),
            "client_api.tokens[0].sha256",
        ),
    ];
    for ((from, to), field) in token_cases {
        let (found, rule) = invalid_field(load(&with_token(from, to), &[]));
        assert_eq!(found, field, "{to}: {rule}");
        assert!(!rule.is_empty());
    }
}

#[test]
fn a_token_anyone_could_guess_is_refused_naming_the_token_and_the_field() {
    // The token the examples used to ship: SHA-256("password").
    let shipped = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
    let text = with_token(RANDOM_HASH, shipped);
    let (field, rule) = invalid_field(load(&text, &[]));
    assert_eq!(field, "client_api.tokens[0].sha256");
    assert!(
        rule.contains("token \"asycuda\" is the SHA-256 of \"password\""),
        "{rule}"
    );
    // SHA-256("kz1"): short secrets are tried exhaustively.
    let short = hex::encode(ring::digest::digest(&ring::digest::SHA256, b"kz1"));
    let (field, rule) = invalid_field(load(&with_token(RANDOM_HASH, &short), &[]));
    assert_eq!(field, "client_api.tokens[0].sha256", "{rule}");
}

#[test]
fn token_names_and_tokens_are_unique() {
    let second = TOKEN.replace("\"KZ-AKTAU-PCU\", ", "");
    let text = format!("{}\n{second}", with_token("", ""));
    let (field, rule) = invalid_field(load(&text, &[]));
    assert_eq!(field, "client_api.tokens[1].name");
    assert!(rule.contains("revoked by name"), "{rule}");
    let text = format!(
        "{}\n{}",
        with_token("", ""),
        second.replace("\"asycuda\"", "\"other\"")
    );
    let (field, _) = invalid_field(load(&text, &[]));
    assert_eq!(field, "client_api.tokens[1].sha256");
}

#[test]
fn an_officer_token_names_exactly_one_unit() {
    let text = with_token("role = \"integrator\"", "role = \"officer\"");
    let (field, rule) = invalid_field(load(&text, &[]));
    assert_eq!(field, "client_api.tokens[0].units");
    assert!(rule.contains("exactly one"), "{rule}");
}

#[test]
fn unknown_fields_and_bad_overrides_are_refused() {
    let text = format!("{EXAMPLE}\n[extra]\nanswer = 42\n");
    assert!(matches!(load(&text, &[]), Err(ConfigError::Parse { .. })));
    // `country` is a string, so a variable that makes it a section is refused naming it.
    let (field, _) = invalid_field(load(EXAMPLE, &[("TULPAR__COUNTRY__X", "1")]));
    assert_eq!(field, "country");
    let text = EXAMPLE.replacen("[log]", "[log]\ncolour = true", 1);
    assert!(text.contains("colour"), "the example lacks [log]");
    let (field, rule) = invalid_field(load(&text, &[]));
    assert_eq!(field, "log", "{rule}");
    assert!(rule.contains("colour"), "{rule}");
}

#[test]
fn durations_read_like_people_write_them() {
    let text = EXAMPLE
        .replacen("urgent = \"30m\"", "urgent = \"500ms\"", 1)
        .replacen("routine = \"24h\"", "routine = \"90d\"", 1);
    let config = load(&text, &[("TULPAR__DEADLINES__HIGH", "1h 30m")]).unwrap();
    assert_eq!(config.deadlines.urgent, Duration::from_millis(500));
    assert_eq!(config.deadlines.high, Duration::from_secs(90 * 60));
    assert_eq!(config.deadlines.routine, Duration::from_secs(90 * 86_400));
    let (field, rule) = invalid_field(load(EXAMPLE, &[("TULPAR__DEADLINES__URGENT", "soon")]));
    assert_eq!(field, "deadlines.urgent", "{rule}");
    assert!(rule.contains("TULPAR__DEADLINES__URGENT"), "{rule}");
    let text = EXAMPLE.replacen(
        "check_interval = \"5s\"",
        "check_interval = \"5 parsecs\"",
        1,
    );
    assert!(text.contains("parsecs"), "the example lacks check_interval");
    let (field, rule) = invalid_field(load(&text, &[]));
    assert_eq!(field, "deadlines.check_interval", "{rule}");
}

#[test]
fn environment_values_take_the_type_of_the_field_they_set() {
    // A string field keeps the text as it is: "007" is not the number 7.
    let config = load(
        EXAMPLE,
        &[
            ("TULPAR__DATA_DIR", "007"),
            ("TULPAR__TLS__CERTIFICATE", "0x10"),
            ("TULPAR__LOG__LEVEL", "007"),
        ],
    )
    .unwrap();
    assert_eq!(config.data_dir, Path::new("/etc/tulpar/007"));
    assert_eq!(config.tls.certificate, Path::new("/etc/tulpar/0x10"));
    assert_eq!(config.log.level, "007");
    // A number field reads the text as a number, or refuses it naming the field and the variable.
    let config = load(EXAMPLE, &[("TULPAR__CLIENT_API__MAX_CONNECTIONS", "0700")]).unwrap();
    assert_eq!(config.client_api.connections.max_connections, 700);
    let (field, rule) = invalid_field(load(
        EXAMPLE,
        &[("TULPAR__CLIENT_API__MAX_CONNECTIONS", "abc")],
    ));
    assert_eq!(field, "client_api.max_connections", "{rule}");
    assert!(rule.contains("abc"), "{rule}");
    assert!(
        rule.contains("TULPAR__CLIENT_API__MAX_CONNECTIONS"),
        "{rule}"
    );
    let (field, rule) = invalid_field(load(EXAMPLE, &[("TULPAR__DELIVERY__BATCH_SIZE", "-1")]));
    assert_eq!(field, "delivery.batch_size", "{rule}");
    let (field, rule) = invalid_field(load(EXAMPLE, &[("TULPAR__LOG__FORMAT", "xml")]));
    assert_eq!(field, "log.format", "{rule}");
    assert!(rule.contains("\"xml\" is not one of text, json"), "{rule}");
    // A section absent from the file is made by the variable.
    let witness = ["[witness]\n", "interval = \"60s\"\n"];
    assert!(
        witness
            .iter()
            .all(|line| EXAMPLE.matches(line).count() == 1)
    );
    let text = witness
        .iter()
        .fold(EXAMPLE.to_owned(), |text, line| text.replacen(line, "", 1));
    let config = load(&text, &[("TULPAR__WITNESS__INTERVAL", "1s")]).unwrap();
    assert_eq!(config.witness.interval, Duration::from_secs(1));
}

#[test]
fn the_three_country_federation_examples_load() {
    for (text, country) in [
        (include_str!("../../../deploy/federation/kz.toml"), "KZ"),
        (include_str!("../../../deploy/federation/uz.toml"), "UZ"),
        (include_str!("../../../deploy/federation/tj.toml"), "TJ"),
    ] {
        let config = load(text, &[]).unwrap_or_else(|e| panic!("{country}: {e}"));
        assert_eq!(config.country.as_str(), country);
        assert!(
            config
                .client_api
                .tokens
                .iter()
                .all(|t| t.units.iter().all(|u| u.country() == config.country))
        );
    }
}

#[test]
fn connection_limits_have_defaults_and_name_the_field_when_wrong() {
    let config = load(EXAMPLE, &[]).unwrap();
    assert!(config.client_api.connections.max_connections_per_address > 1);
    assert!(
        config.client_api.connections.max_connections
            >= config.client_api.connections.max_connections_per_address
    );
    assert!(!config.federation.connections.idle_timeout.is_zero());
    let config = load(
        EXAMPLE,
        &[
            ("TULPAR__CLIENT_API__MAX_CONNECTIONS_PER_ADDRESS", "8"),
            ("TULPAR__FEDERATION__IDLE_TIMEOUT", "30s"),
        ],
    )
    .unwrap();
    assert_eq!(config.client_api.connections.max_connections_per_address, 8);
    assert_eq!(
        config.federation.connections.idle_timeout,
        Duration::from_secs(30)
    );
    for (name, value, field) in [
        (
            "TULPAR__CLIENT_API__MAX_CONNECTIONS",
            "0",
            "client_api.max_connections",
        ),
        (
            "TULPAR__CLIENT_API__MAX_CONNECTIONS_PER_ADDRESS",
            "1000000",
            "client_api.max_connections_per_address",
        ),
        (
            "TULPAR__FEDERATION__MAX_HANDSHAKES",
            "0",
            "federation.max_handshakes",
        ),
        (
            "TULPAR__FEDERATION__IDLE_TIMEOUT",
            "0s",
            "federation.idle_timeout",
        ),
    ] {
        let (got, rule) = invalid_field(load(EXAMPLE, &[(name, value)]));
        assert_eq!(got, field, "{rule}");
    }
}

const WEBHOOK: &str = r#"
[[webhooks.subscriptions]]
name = "risk-system"
url = "https://risk.customs.kz/tulpar/events"
units = ["KZ-AKTAU-PCU"]
events = ["alert.received", "alert.acknowledged"]
secret_file = "webhooks/risk-system.secret"
"#;

/// The example with `WEBHOOK` changed from `from` to `to` appended.
fn with_webhook(from: &str, to: &str) -> String {
    assert!(WEBHOOK.contains(from), "the subscription lacks {from}");
    format!("{EXAMPLE}\n{}", WEBHOOK.replacen(from, to, 1))
}

/// `text` with http:// to this machine allowed.
fn allowing_loopback(text: &str) -> String {
    text.replacen(
        "allow_http_loopback = false",
        "allow_http_loopback = true",
        1,
    )
}

#[test]
fn a_webhook_subscription_loads_with_defaults_and_its_secret_beside_the_file() {
    let config = load(&with_webhook("", ""), &[]).unwrap();
    let webhooks = &config.webhooks;
    assert_eq!(webhooks.initial_backoff, Duration::from_secs(1));
    assert_eq!(webhooks.max_backoff, Duration::from_secs(300));
    assert!(!webhooks.allow_http_loopback);
    let subscription = &webhooks.subscriptions[0];
    assert_eq!(subscription.url.host(), Some("risk.customs.kz"));
    assert_eq!(
        subscription.secret_file,
        Path::new("/etc/tulpar/webhooks/risk-system.secret")
    );
    assert_eq!(
        subscription.events,
        [
            tulpar_core::proto::AlertEventKind::AlertReceived,
            tulpar_core::proto::AlertEventKind::Acknowledged
        ]
    );
    assert!(
        load(EXAMPLE, &[])
            .unwrap()
            .webhooks
            .subscriptions
            .is_empty()
    );
}

#[test]
fn webhook_targets_are_https_unless_loopback_is_allowed() {
    let https = "https://risk.customs.kz/tulpar/events";
    let loopback = with_webhook(https, "http://127.0.0.1:8099/events");
    let (field, rule) = invalid_field(load(&loopback, &[]));
    assert_eq!(field, "webhooks.subscriptions[0].url");
    assert!(rule.contains("allow_http_loopback"), "{rule}");
    let allowed = allowing_loopback(&loopback);
    assert!(load(&allowed, &[]).is_ok());
    for url in ["http://localhost/x", "http://[::1]:9000/x"] {
        assert!(load(&allowed.replace("http://127.0.0.1:8099/events", url), &[]).is_ok());
    }
    for (url, rule_part) in [
        ("http://10.0.0.5/events", "but over https://"),
        ("ftp://risk.customs.kz/x", "is not https://"),
        ("/tulpar/events", "not an absolute URL"),
        (
            "https://user:pw@risk.customs.kz/x",
            "no user name or password",
        ),
        ("not a url", "is not a URL"),
    ] {
        let text = allowing_loopback(&with_webhook(https, url));
        let (field, rule) = invalid_field(load(&text, &[]));
        assert_eq!(field, "webhooks.subscriptions[0].url", "{url}");
        assert!(rule.contains(rule_part), "{url}: {rule}");
    }
}

#[test]
fn bad_webhook_subscriptions_name_the_field_and_the_rule() {
    let cases = [
        (
            ("\"alert.received\"", "\"alert.arrived\""),
            "webhooks.subscriptions[0].events[0]",
            "is not one of alert.sent",
        ),
        (
            ("\"KZ-AKTAU-PCU\"", "\"UZ-TASHKENT-PCU\""),
            "webhooks.subscriptions[0].units[0]",
            "is not a unit of KZ",
        ),
        (
            ("units = [\"KZ-AKTAU-PCU\"]", "units = []"),
            "webhooks.subscriptions[0].units",
            "at least one",
        ),
        (
            ("name = \"risk-system\"", "name = \"risk system/..\""),
            "webhooks.subscriptions[0].name",
            "letters, digits",
        ),
    ];
    for ((from, to), field, rule_part) in cases {
        let (got_field, rule) = invalid_field(load(&with_webhook(from, to), &[]));
        assert_eq!(got_field, field, "{to}");
        assert!(rule.contains(rule_part), "{to}: {rule}");
    }
    let short_cap = EXAMPLE.replacen("max_backoff = \"5m\"", "max_backoff = \"10ms\"", 1);
    let (field, rule) = invalid_field(load(&short_cap, &[]));
    assert_eq!(field, "webhooks.max_backoff");
    assert!(rule.contains("initial_backoff"), "{rule}");
    let twice = format!(
        "{}{}",
        with_webhook("", ""),
        &WEBHOOK[WEBHOOK.find("[[webhooks").unwrap()..]
    );
    let (field, rule) = invalid_field(load(&twice, &[]));
    assert_eq!(field, "webhooks.subscriptions[1].name");
    assert!(rule.contains("already the name"), "{rule}");
    let subscription = &WEBHOOK[WEBHOOK.find("[[webhooks").unwrap()..];
    let too_many: String = (0..=MAX_WEBHOOK_SUBSCRIPTIONS)
        .map(|i| subscription.replace("risk-system\"", &format!("system-{i}\"")))
        .collect();
    let (field, rule) = invalid_field(load(&format!("{EXAMPLE}\n{too_many}"), &[]));
    assert_eq!(field, "webhooks.subscriptions");
    assert!(rule.contains("at most 64"), "{rule}");
}

#[test]
fn the_federation_name_and_witnesses_are_checked_naming_the_field() {
    let config = load(EXAMPLE, &[]).expect("example");
    assert_eq!(config.federation.name, "pcu-mou.example");
    assert!(config.witness.witnesses.is_empty() && config.witness.quorum.is_none());
    let unnamed = EXAMPLE.replace("name = \"pcu-mou.example\"\n", "");
    assert_eq!(
        load(&unnamed, &[]).expect("default").federation.name,
        "tulpar"
    );
    for bad in ["", "a b", "x+y", "ends/"] {
        let text = EXAMPLE.replace("\"pcu-mou.example\"", &format!("{bad:?}"));
        let (field, rule) = invalid_field(load(&text, &[]));
        assert_eq!(field, "federation.name", "{bad:?}");
        assert!(rule.contains("without spaces or '+'"), "{rule}");
    }

    let key = tulpar_core::keys::SigningKey::generate().expect("key");
    let vkey = |kind| {
        tulpar_ledger::note::VerifierKey {
            name: "w.example/w1".into(),
            kind,
            key: key.public_key(),
        }
        .to_string()
    };
    let witness = vkey(tulpar_ledger::note::VerifierKind::Cosigner);
    let log = vkey(tulpar_ledger::note::VerifierKind::Log);
    let with = |section: &str| format!("{EXAMPLE}\n{section}");
    let good = with(&format!(
        "[[witness.witnesses]]\nurl = \"https://w.example/tlog\"\nkey = \"{witness}\"\n\n\
         [[witness.logs]]\nkey = \"{log}\"\n"
    ));
    let config = load(&good, &[]).expect("witnesses");
    assert_eq!(config.witness.witnesses[0].key.to_string(), witness);
    assert_eq!(config.witness.logs[0].key.name, "w.example/w1");

    for (section, field, rule) in [
        (
            format!("[[witness.witnesses]]\nurl = \"https://w.example\"\nkey = \"{log}\"\n"),
            "witness.witnesses[0].key",
            "type 0x04",
        ),
        (
            format!("[[witness.logs]]\nkey = \"{witness}\"\n"),
            "witness.logs[0].key",
            "type 0x01",
        ),
        (
            "[[witness.logs]]\nkey = \"w.example/w1+00000000+AQ==\"\n".to_owned(),
            "witness.logs[0].key",
            "verifier key",
        ),
        (
            format!("[[witness.witnesses]]\nurl = \"http://10.0.0.9/tlog\"\nkey = \"{witness}\"\n"),
            "witness.witnesses[0].url",
            "https://",
        ),
        (
            format!("[[witness.logs]]\nkey = \"{log}\"\n\n[[witness.logs]]\nkey = \"{log}\"\n"),
            "witness.logs[1].key",
            "already the origin",
        ),
    ] {
        let (got_field, got_rule) = invalid_field(load(&with(&section), &[]));
        assert_eq!(got_field, field, "{section}");
        assert!(got_rule.contains(rule), "{section}: {got_rule}");
    }
}

#[test]
fn the_metrics_listener_is_optional_and_takes_no_api_address() {
    let without = EXAMPLE.replace("listen = \"127.0.0.1:9464\"", "");
    assert_eq!(load(&without, &[]).unwrap().metrics.listen, None);
    let (field, rule) = invalid_field(load(
        EXAMPLE,
        &[("TULPAR__METRICS__LISTEN", "127.0.0.1:7400")],
    ));
    assert_eq!(field, "metrics.listen");
    assert!(rule.contains("client_api.listen"), "{rule}");
}
