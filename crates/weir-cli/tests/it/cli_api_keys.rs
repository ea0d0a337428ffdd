//! `weir api-key` as users run it: `create` prints the key and nothing else on stdout, `ls` never
//! shows it, `revoke` makes it stop working at once; bad input is one line; the first key of a
//! server that requires keys is made on its database; bad server settings stop the start.

use super::cli_verbs::{command, weir, weir_args, Run};
use super::*;

const BOOTSTRAP: &str = "cli-bootstrap-key-0123456789";

/// `weir ARGS` against `server` with `key` as WEIR_API_KEY.
fn weir_with_key(server: &WeirServer, key: &str, args: &[&str]) -> Run {
    command(&server.api_url, args)
        .env("WEIR_API_KEY", key)
        .output()
        .unwrap()
        .into()
}

#[test]
fn keys_are_created_listed_and_revoked_from_the_command_line() {
    let server = start_server(&[], &[("WEIR_SERVER_BOOTSTRAP_API_KEY", BOOTSTRAP)]);
    let created = weir_with_key(
        &server,
        BOOTSTRAP,
        &[
            "api-key",
            "create",
            "--name",
            "worker",
            "--expires-in",
            "30d",
        ],
    );
    let stdout = created.ok();
    assert_eq!(
        stdout.lines().count(),
        1,
        "only the key on stdout: {stdout:?}"
    );
    let key = stdout.trim();
    assert!(key.starts_with("weir_") && !key.contains(' '), "{key}");
    assert!(
        created.stderr.contains("shown only this once"),
        "{}",
        created.stderr
    );

    // The key works for the other verbs.
    weir_with_key(&server, key, &["work-pool", "ls"]).ok();

    let listed = weir_with_key(&server, key, &["api-key", "ls"]);
    let table = listed.ok();
    let secret = key.rsplit('_').next().unwrap();
    assert!(
        !table.contains(secret),
        "ls never shows the secret: {table}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with("worker"))
        .expect(table);
    let prefix = key.rsplit_once('_').unwrap().0;
    assert!(row.contains(prefix) && row.ends_with("active"), "{row}");
    assert!(!row.contains("never"), "it expires: {row}");
    let json = weir_with_key(&server, key, &["api-key", "ls", "-o", "json"]).json();
    assert_eq!(json[0]["name"], "worker");
    assert!(!json.to_string().contains(secret));

    let revoked = weir_with_key(&server, BOOTSTRAP, &["api-key", "revoke", "worker"]);
    assert!(revoked.ok().contains("Revoked API key \"worker\""));
    weir_with_key(&server, key, &["work-pool", "ls"]).fails_with("API key revoked");
    let table = weir_with_key(&server, BOOTSTRAP, &["api-key", "ls"])
        .ok()
        .to_owned();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("worker") && l.ends_with("revoked")),
        "{table}"
    );
    weir_with_key(&server, BOOTSTRAP, &["api-key", "revoke", "worker"])
        .fails_with("already revoked");
    weir_with_key(&server, BOOTSTRAP, &["api-key", "revoke", "nobody"]).fails_with("not found");
    // Without credentials the server refuses, in one line.
    command(&server.api_url, &["api-key", "ls"])
        .output()
        .map(Run::from)
        .unwrap()
        .fails_with("401");
}

#[test]
fn bad_expiry_is_one_line_and_a_failure() {
    for bad in ["3x", "0d", "30", "1.5h"] {
        let run: Run = command(
            "http://127.0.0.1:9/api",
            &["api-key", "create", "--name", "n", "--expires-in", bad],
        )
        .output()
        .unwrap()
        .into();
        run.fails_with("invalid");
        assert_eq!(run.code, 2, "{bad}");
        assert!(run.stdout.is_empty(), "{bad}: {}", run.stdout);
    }
}

#[test]
fn the_first_key_of_a_server_requiring_keys_is_made_on_its_database() {
    let server = start_server(&[], &[("WEIR_SERVER_REQUIRE_API_KEY", "true")]);
    weir(&server, "work-pool ls").fails_with("401");
    let database = format!("sqlite://{}", server.home().join("weir.db").display());
    let created = weir_args(
        &server,
        &[
            "api-key",
            "create",
            "--name",
            "first",
            "--database-url",
            &database,
        ],
    );
    let key = created.ok().trim().to_owned();
    weir_with_key(&server, &key, &["work-pool", "ls"]).ok();
    // With the first key, more keys are made through the API.
    let second = weir_with_key(&server, &key, &["api-key", "create", "--name", "second"]);
    weir_with_key(&server, second.ok().trim(), &["work-pool", "ls"]).ok();
    let table = weir_args(&server, &["api-key", "ls", "--database-url", &database]);
    assert!(table.ok().contains("first") && table.ok().contains("second"));
}

#[test]
fn bad_key_settings_stop_the_server_in_one_line() {
    for (name, value, fragment) in [
        ("WEIR_SERVER_BOOTSTRAP_API_KEY", "tiny-key", "too short"),
        (
            "WEIR_SERVER_REQUIRE_API_KEY",
            "maybe",
            "expected true or false",
        ),
    ] {
        let home = std::env::temp_dir().join(format!("weir-home-{}", uuid::Uuid::new_v4()));
        let run: Run = command(
            "http://127.0.0.1:9/api",
            &["server", "start", "--port", "0"],
        )
        .env("WEIR_HOME", &home)
        .env(name, value)
        .output()
        .unwrap()
        .into();
        let _ = std::fs::remove_dir_all(&home);
        run.fails_with(fragment);
        assert!(
            !run.stderr.contains("tiny-key"),
            "the key is not echoed: {}",
            run.stderr
        );
    }
}
