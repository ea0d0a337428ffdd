//! Scenarios: what the fake kubelet makes of a pod.
//!
//! A pod's scenario comes from its `weir.dev/scenario` annotation (copied from a Job's pod template),
//! else from the simulator's table keyed by image, else the default: succeed after about a second
//! with the container's command line as its log. The annotation holds either a short form such as
//! `exit:3` or a JSON object such as `{"kind":"succeed","afterSeconds":5,"logs":["a","b"]}`.
//! The crate README lists every scenario.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The annotation naming a pod's scenario.
pub const ANNOTATION: &str = "weir.dev/scenario";

fn default_after() -> f64 {
    1.0
}

/// What happens to a pod's containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Scenario {
    /// Run for `after_seconds`, write `logs` (default: the command line), exit 0.
    Succeed {
        /// Run time in simulated seconds.
        #[serde(default = "default_after")]
        after_seconds: f64,
        /// Log lines, spread over the run time.
        #[serde(default)]
        logs: Option<Vec<String>>,
    },
    /// Run for `after_seconds`, write `logs`, exit with `code`.
    Exit {
        /// The exit code.
        code: i32,
        /// Run time in simulated seconds.
        #[serde(default = "default_after")]
        after_seconds: f64,
        /// Log lines.
        #[serde(default)]
        logs: Option<Vec<String>>,
    },
    /// Run for `after_seconds`, then be killed for exceeding the memory limit (exit 137, OOMKilled).
    OomKilled {
        /// Run time in simulated seconds.
        #[serde(default = "default_after")]
        after_seconds: f64,
        /// Log lines.
        #[serde(default)]
        logs: Option<Vec<String>>,
    },
    /// The image never pulls: ErrImagePull and ImagePullBackOff, forever.
    #[serde(rename = "image-pull-backoff")]
    ImagePullBackOff,
    /// The container cannot be configured (e.g. a missing Secret key): CreateContainerConfigError.
    CreateContainerConfigError {
        /// The waiting message.
        #[serde(default)]
        message: Option<String>,
    },
    /// The runtime cannot create the container: CreateContainerError.
    CreateContainerError {
        /// The waiting message.
        #[serde(default)]
        message: Option<String>,
    },
    /// No node fits: the pod stays Pending with PodScheduled=False/Unschedulable.
    Unschedulable,
    /// Run, then be evicted by the kubelet after `after_seconds` (phase Failed, reason Evicted,
    /// condition DisruptionTarget).
    Evicted {
        /// Simulated seconds before eviction.
        #[serde(default = "default_after")]
        after_seconds: f64,
    },
    /// Run, then lose the node after `after_seconds`: Ready=False, then DisruptionTarget and Failed.
    NodeLost {
        /// Simulated seconds before the node is lost.
        #[serde(default = "default_after")]
        after_seconds: f64,
    },
    /// Run until deleted.
    Hang,
    /// Run the container's command as a local process with the pod's environment.
    RunLocal,
    /// Run the container as a local process, as `RunLocal` does, for an image whose programs are
    /// local files: a command naming a path in `programs` runs that local file instead, and a
    /// container without `command` runs `entrypoint` (the image's ENTRYPOINT) before its `args`.
    RunLocalImage {
        /// The image's entrypoint, used when the container sets no `command`.
        #[serde(default)]
        entrypoint: Vec<String>,
        /// Paths inside the image mapped to the local files that stand for them.
        #[serde(default)]
        programs: BTreeMap<String, PathBuf>,
    },
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario::Succeed {
            after_seconds: 1.0,
            logs: None,
        }
    }
}

impl Scenario {
    /// Parses the annotation's short form or JSON form.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.starts_with('{') {
            return serde_json::from_str(text)
                .map_err(|e| format!("invalid scenario {text:?}: {e}"));
        }
        let mut parts = text.split(':');
        let name = parts.next().unwrap_or("");
        let args: Vec<&str> = parts.collect();
        let num = |i: usize, default: f64| -> Result<f64, String> {
            args.get(i).map_or(Ok(default), |a| {
                a.parse()
                    .map_err(|_| format!("invalid number {a:?} in scenario {text:?}"))
            })
        };
        Ok(match name {
            "succeed" => Scenario::Succeed {
                after_seconds: num(0, 1.0)?,
                logs: None,
            },
            "exit" => Scenario::Exit {
                code: num(0, 1.0)? as i32,
                after_seconds: num(1, 1.0)?,
                logs: None,
            },
            "oom" | "oom-killed" => Scenario::OomKilled {
                after_seconds: num(0, 1.0)?,
                logs: None,
            },
            "image-pull-backoff" | "err-image-pull" => Scenario::ImagePullBackOff,
            "config-error" | "create-container-config-error" => {
                Scenario::CreateContainerConfigError {
                    message: args.first().map(|s| s.to_string()),
                }
            }
            "create-container-error" => Scenario::CreateContainerError {
                message: args.first().map(|s| s.to_string()),
            },
            "unschedulable" => Scenario::Unschedulable,
            "evict" | "evicted" => Scenario::Evicted {
                after_seconds: num(0, 1.0)?,
            },
            "node-lost" => Scenario::NodeLost {
                after_seconds: num(0, 1.0)?,
            },
            "hang" => Scenario::Hang,
            "run-local" => Scenario::RunLocal,
            _ => return Err(format!("unknown scenario {text:?}")),
        })
    }

    /// An image whose entrypoint is the program at `path` inside the image, run as the local file
    /// `local`: `Scenario::local_image("/usr/local/bin/weir", env!("CARGO_BIN_EXE_weir"))`.
    pub fn local_image(path: &str, local: impl Into<PathBuf>) -> Self {
        Scenario::RunLocalImage {
            entrypoint: vec![path.to_string()],
            programs: BTreeMap::from([(path.to_string(), local.into())]),
        }
    }

    /// Whether the container runs as a local process.
    pub fn runs_locally(&self) -> bool {
        matches!(self, Scenario::RunLocal | Scenario::RunLocalImage { .. })
    }

    /// The local command line of a container: its `command` (else the image's entrypoint) and
    /// `args`, with the program mapped to its local file. `None` for scenarios that run nothing.
    pub fn local_argv(&self, container: &Value) -> Option<Vec<String>> {
        let strings = |field: &str| -> Vec<String> {
            container[field]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        let (entrypoint, programs) = match self {
            Scenario::RunLocal => (&Vec::new(), &BTreeMap::new()),
            Scenario::RunLocalImage {
                entrypoint,
                programs,
            } => (entrypoint, programs),
            _ => return None,
        };
        let mut argv = strings("command");
        if argv.is_empty() {
            argv = entrypoint.clone();
        }
        argv.extend(strings("args"));
        if let Some(local) = argv.first().and_then(|p| programs.get(p)) {
            argv[0] = local.display().to_string();
        }
        Some(argv)
    }

    /// How long the containers run before the scenario's ending, in simulated seconds.
    pub fn run_seconds(&self) -> Option<f64> {
        match self {
            Scenario::Succeed { after_seconds, .. }
            | Scenario::Exit { after_seconds, .. }
            | Scenario::OomKilled { after_seconds, .. }
            | Scenario::Evicted { after_seconds }
            | Scenario::NodeLost { after_seconds } => Some(after_seconds.max(0.0)),
            _ => None,
        }
    }

    /// The scripted log lines, if any.
    pub fn logs(&self) -> Option<&[String]> {
        match self {
            Scenario::Succeed { logs, .. }
            | Scenario::Exit { logs, .. }
            | Scenario::OomKilled { logs, .. } => logs.as_deref(),
            _ => None,
        }
    }
}

/// Scenarios keyed by image; a key ending in `*` matches images starting with the rest.
#[derive(Debug, Clone, Default)]
pub struct ScenarioTable {
    by_image: HashMap<String, Scenario>,
}

impl ScenarioTable {
    /// Adds an entry.
    pub fn with(mut self, image: &str, scenario: Scenario) -> Self {
        self.by_image.insert(image.to_string(), scenario);
        self
    }

    /// Inserts or replaces an entry.
    pub fn insert(&mut self, image: &str, scenario: Scenario) {
        self.by_image.insert(image.to_string(), scenario);
    }

    /// The scenario for an image.
    pub fn for_image(&self, image: &str) -> Option<&Scenario> {
        self.by_image.get(image).or_else(|| {
            self.by_image
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_suffix('*')
                        .filter(|p| image.starts_with(p))
                        .map(|p| (p.len(), v))
                })
                .max_by_key(|(len, _)| *len)
                .map(|(_, v)| v)
        })
    }

    /// The scenario for a pod: annotation, then image table, then default.
    pub fn for_pod(&self, pod: &Value) -> Result<Scenario, String> {
        if let Some(text) = crate::meta::annotation(pod, ANNOTATION) {
            return Scenario::parse(text);
        }
        let image = crate::meta::str_at(&pod["spec"]["containers"][0], "image");
        Ok(self.for_image(image).cloned().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_and_json_forms() {
        assert_eq!(
            Scenario::parse("exit:3").unwrap(),
            Scenario::Exit {
                code: 3,
                after_seconds: 1.0,
                logs: None
            }
        );
        assert_eq!(
            Scenario::parse("succeed:5").unwrap(),
            Scenario::Succeed {
                after_seconds: 5.0,
                logs: None
            }
        );
        assert_eq!(
            Scenario::parse(r#"{"kind":"succeed","afterSeconds":2,"logs":["a"]}"#).unwrap(),
            Scenario::Succeed {
                after_seconds: 2.0,
                logs: Some(vec!["a".into()])
            }
        );
        assert_eq!(
            Scenario::parse(r#"{"kind":"image-pull-backoff"}"#).unwrap(),
            Scenario::ImagePullBackOff
        );
        assert!(Scenario::parse("bogus").is_err());
    }

    #[test]
    fn local_images_map_the_program_and_supply_the_entrypoint() {
        let image = Scenario::local_image("/usr/local/bin/weir", "/build/weir");
        let with_command = json!({"command": ["/usr/local/bin/weir", "worker"], "args": ["start"]});
        assert_eq!(
            image.local_argv(&with_command).unwrap(),
            ["/build/weir", "worker", "start"]
        );
        let args_only = json!({"args": ["--version"]});
        assert_eq!(
            image.local_argv(&args_only).unwrap(),
            ["/build/weir", "--version"]
        );
        let other = json!({"command": ["/bin/sh", "-c", "true"]});
        assert_eq!(image.local_argv(&other).unwrap(), ["/bin/sh", "-c", "true"]);
        assert_eq!(
            Scenario::RunLocal.local_argv(&args_only).unwrap(),
            ["--version"]
        );
        assert_eq!(Scenario::Hang.local_argv(&args_only), None);
        let parsed: Scenario = serde_json::from_value(json!({
            "kind": "run-local-image", "entrypoint": ["/app"], "programs": {"/app": "/tmp/app"}
        }))
        .unwrap();
        assert_eq!(parsed, Scenario::local_image("/app", "/tmp/app"));
    }

    #[test]
    fn image_table_prefix() {
        let t = ScenarioTable::default()
            .with("busybox*", Scenario::Hang)
            .with(
                "busybox:oom",
                Scenario::OomKilled {
                    after_seconds: 1.0,
                    logs: None,
                },
            );
        assert_eq!(t.for_image("busybox:1.36"), Some(&Scenario::Hang));
        assert!(matches!(
            t.for_image("busybox:oom"),
            Some(Scenario::OomKilled { .. })
        ));
        assert_eq!(t.for_image("alpine"), None);
    }
}
