//! `weir config view`: the settings in effect and where each came from, without secrets.

use crate::api;
use crate::output::Table;
use clap::Subcommand;
use weir_core::env;

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Show the settings in effect and where each came from.
    View,
}

pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::View => {
            view();
            Ok(())
        }
    }
}

/// The first of `names` that is set, with its value.
fn first_of(names: &[&'static str]) -> Option<(&'static str, String)> {
    names
        .iter()
        .find_map(|name| env::first_set(&[name]).map(|value| (*name, value)))
}

fn from_env(name: &str) -> String {
    format!("env {name}")
}

/// How a client authenticates, naming the user of a Basic string but never a password or key.
fn client_auth() -> (String, String) {
    if let Some((name, _)) = first_of(&[env::WEIR_API_KEY, env::PREFECT_API_KEY]) {
        return ("bearer (API key)".into(), from_env(name));
    }
    if let Some((name, value)) =
        first_of(&[env::WEIR_API_AUTH_STRING, env::PREFECT_API_AUTH_STRING])
    {
        let user = value.split(':').next().unwrap_or_default();
        return (format!("basic (user {user:?})"), from_env(name));
    }
    ("none".into(), "default".into())
}

fn view() {
    let mut table = Table::new(&["SETTING", "VALUE", "SOURCE"]);
    let (url, url_source) = api::api_url();
    table.row(vec![
        "api url".into(),
        url,
        url_source.map_or_else(|| "default".to_owned(), from_env),
    ]);
    let (auth, auth_source) = client_auth();
    table.row(vec!["api auth".into(), auth, auth_source]);
    let home = env::weir_home();
    let home_set = std::env::var_os(env::WEIR_HOME).is_some_and(|h| !h.is_empty());
    table.row(vec![
        "weir home".into(),
        home.display().to_string(),
        if home_set {
            from_env(env::WEIR_HOME)
        } else {
            "default (~/.weir)".into()
        },
    ]);
    let (database, database_source) = match first_of(&[env::WEIR_DATABASE_URL]) {
        Some((name, url)) => (super::server::redact(&url), from_env(name)),
        None => (
            format!("sqlite://{}", home.join("weir.db").display()),
            "default ($WEIR_HOME/weir.db)".into(),
        ),
    };
    table.row(vec![
        "server database url".into(),
        database,
        database_source,
    ]);
    let (server_auth, server_auth_source) = match first_of(&[
        env::WEIR_SERVER_API_AUTH_STRING,
        env::PREFECT_SERVER_API_AUTH_STRING,
    ]) {
        Some((name, _)) => ("basic (required)".to_owned(), from_env(name)),
        None => ("none".to_owned(), "default".to_owned()),
    };
    table.row(vec!["server auth".into(), server_auth, server_auth_source]);
    let (bootstrap, bootstrap_source) = match first_of(&[env::WEIR_SERVER_BOOTSTRAP_API_KEY]) {
        Some((name, _)) => ("set (keys required)".to_owned(), from_env(name)),
        None => ("none".to_owned(), "default".to_owned()),
    };
    table.row(vec![
        "server bootstrap api key".into(),
        bootstrap,
        bootstrap_source,
    ]);
    let (require, require_source) = match first_of(&[env::WEIR_SERVER_REQUIRE_API_KEY]) {
        Some((name, value)) => (value, from_env(name)),
        None => ("false".to_owned(), "default".to_owned()),
    };
    table.row(vec![
        "server require api key".into(),
        require,
        require_source,
    ]);
    table.print();
}
