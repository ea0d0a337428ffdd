//! Decoding of the Kubernetes protobuf wire format for request bodies.
//!
//! kubectl's typed clients (`kubectl create job`, `create configmap`, `auth can-i`, ...) send
//! `application/vnd.kubernetes.protobuf` bodies: the magic `k8s\0`, then a `runtime.Unknown` holding
//! the TypeMeta and the encoded object. This module turns those bodies into the JSON the rest of the
//! simulator works on, driven by a table of the messages such clients send (field numbers as in the
//! Kubernetes `generated.proto` files). Fields missing from the table are dropped, so the table lists
//! every field a worker or kubectl is known to send. Responses are always JSON, which the clients
//! accept.

use base64::Engine;
use serde_json::{Map, Value};

use crate::error::{ApiError, Result};

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    Msg(&'static str),
    Inline(&'static str),
    MapStr,
    MapBytes,
    MapQuantity,
    Time,
    IntOrString,
}

struct Field {
    tag: u64,
    name: &'static str,
    kind: Kind,
    repeated: bool,
}

const fn f(tag: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        tag,
        name,
        kind,
        repeated: false,
    }
}

const fn r(tag: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        tag,
        name,
        kind,
        repeated: true,
    }
}

use Kind::*;

const SCHEMAS: &[(&str, &[Field])] = &[
    (
        "ObjectMeta",
        &[
            f(1, "name", Str),
            f(2, "generateName", Str),
            f(3, "namespace", Str),
            f(5, "uid", Str),
            f(6, "resourceVersion", Str),
            f(7, "generation", Int),
            f(8, "creationTimestamp", Time),
            f(9, "deletionTimestamp", Time),
            f(10, "deletionGracePeriodSeconds", Int),
            f(11, "labels", MapStr),
            f(12, "annotations", MapStr),
            r(13, "ownerReferences", Msg("OwnerReference")),
            r(14, "finalizers", Str),
        ],
    ),
    (
        "OwnerReference",
        &[
            f(5, "apiVersion", Str),
            f(1, "kind", Str),
            f(3, "name", Str),
            f(4, "uid", Str),
            f(6, "controller", Bool),
            f(7, "blockOwnerDeletion", Bool),
        ],
    ),
    (
        "LabelSelector",
        &[
            f(1, "matchLabels", MapStr),
            r(2, "matchExpressions", Msg("LabelSelectorRequirement")),
        ],
    ),
    (
        "LabelSelectorRequirement",
        &[f(1, "key", Str), f(2, "operator", Str), r(3, "values", Str)],
    ),
    (
        "Job",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("JobSpec")),
        ],
    ),
    (
        "JobSpec",
        &[
            f(1, "parallelism", Int),
            f(2, "completions", Int),
            f(3, "activeDeadlineSeconds", Int),
            f(4, "selector", Msg("LabelSelector")),
            f(5, "manualSelector", Bool),
            f(6, "template", Msg("PodTemplateSpec")),
            f(7, "backoffLimit", Int),
            f(8, "ttlSecondsAfterFinished", Int),
            f(9, "completionMode", Str),
            f(10, "suspend", Bool),
            f(12, "backoffLimitPerIndex", Int),
            f(13, "maxFailedIndexes", Int),
            f(14, "podReplacementPolicy", Str),
            f(15, "managedBy", Str),
        ],
    ),
    (
        "PodTemplateSpec",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("PodSpec")),
        ],
    ),
    (
        "Pod",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("PodSpec")),
        ],
    ),
    (
        "PodSpec",
        &[
            r(20, "initContainers", Msg("Container")),
            r(2, "containers", Msg("Container")),
            f(3, "restartPolicy", Str),
            f(4, "terminationGracePeriodSeconds", Int),
            f(5, "activeDeadlineSeconds", Int),
            f(6, "dnsPolicy", Str),
            f(7, "nodeSelector", MapStr),
            f(8, "serviceAccountName", Str),
            f(9, "serviceAccount", Str),
            f(21, "automountServiceAccountToken", Bool),
            f(10, "nodeName", Str),
            f(11, "hostNetwork", Bool),
            r(15, "imagePullSecrets", Msg("LocalObjectReference")),
            f(16, "hostname", Str),
            f(17, "subdomain", Str),
            f(19, "schedulerName", Str),
            r(22, "tolerations", Msg("Toleration")),
            f(24, "priorityClassName", Str),
            f(25, "priority", Int),
            f(29, "runtimeClassName", Str),
            f(30, "enableServiceLinks", Bool),
        ],
    ),
    (
        "Container",
        &[
            f(1, "name", Str),
            f(2, "image", Str),
            r(3, "command", Str),
            r(4, "args", Str),
            f(5, "workingDir", Str),
            r(6, "ports", Msg("ContainerPort")),
            r(19, "envFrom", Msg("EnvFromSource")),
            r(7, "env", Msg("EnvVar")),
            f(8, "resources", Msg("ResourceRequirements")),
            f(24, "restartPolicy", Str),
            f(13, "terminationMessagePath", Str),
            f(20, "terminationMessagePolicy", Str),
            f(14, "imagePullPolicy", Str),
            f(16, "stdin", Bool),
            f(17, "stdinOnce", Bool),
            f(18, "tty", Bool),
        ],
    ),
    (
        "ContainerPort",
        &[
            f(1, "name", Str),
            f(2, "hostPort", Int),
            f(3, "containerPort", Int),
            f(4, "protocol", Str),
            f(5, "hostIP", Str),
        ],
    ),
    (
        "EnvVar",
        &[
            f(1, "name", Str),
            f(2, "value", Str),
            f(3, "valueFrom", Msg("EnvVarSource")),
        ],
    ),
    (
        "EnvVarSource",
        &[
            f(1, "fieldRef", Msg("ObjectFieldSelector")),
            f(3, "configMapKeyRef", Msg("KeySelector")),
            f(4, "secretKeyRef", Msg("KeySelector")),
        ],
    ),
    (
        "KeySelector",
        &[
            f(1, "", Inline("LocalObjectReference")),
            f(2, "key", Str),
            f(3, "optional", Bool),
        ],
    ),
    (
        "ObjectFieldSelector",
        &[f(1, "apiVersion", Str), f(2, "fieldPath", Str)],
    ),
    (
        "EnvFromSource",
        &[
            f(1, "prefix", Str),
            f(2, "configMapRef", Msg("EnvSource")),
            f(3, "secretRef", Msg("EnvSource")),
        ],
    ),
    (
        "EnvSource",
        &[
            f(1, "", Inline("LocalObjectReference")),
            f(2, "optional", Bool),
        ],
    ),
    ("LocalObjectReference", &[f(1, "name", Str)]),
    (
        "ResourceRequirements",
        &[f(1, "limits", MapQuantity), f(2, "requests", MapQuantity)],
    ),
    (
        "Toleration",
        &[
            f(1, "key", Str),
            f(2, "operator", Str),
            f(3, "value", Str),
            f(4, "effect", Str),
            f(5, "tolerationSeconds", Int),
        ],
    ),
    (
        "ConfigMap",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "data", MapStr),
            f(3, "binaryData", MapBytes),
            f(4, "immutable", Bool),
        ],
    ),
    (
        "Secret",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "data", MapBytes),
            f(3, "type", Str),
            f(4, "stringData", MapStr),
            f(5, "immutable", Bool),
        ],
    ),
    ("Namespace", &[f(1, "metadata", Msg("ObjectMeta"))]),
    (
        "ServiceAccount",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            r(3, "imagePullSecrets", Msg("LocalObjectReference")),
            f(4, "automountServiceAccountToken", Bool),
        ],
    ),
    (
        "Service",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("ServiceSpec")),
        ],
    ),
    (
        "ServiceSpec",
        &[
            r(1, "ports", Msg("ServicePort")),
            f(2, "selector", MapStr),
            f(3, "clusterIP", Str),
            f(4, "type", Str),
        ],
    ),
    (
        "ServicePort",
        &[
            f(1, "name", Str),
            f(2, "protocol", Str),
            f(3, "port", Int),
            f(4, "targetPort", IntOrString),
            f(5, "nodePort", Int),
        ],
    ),
    (
        "SelfSubjectAccessReview",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("SelfSubjectAccessReviewSpec")),
        ],
    ),
    (
        "SelfSubjectAccessReviewSpec",
        &[
            f(1, "resourceAttributes", Msg("ResourceAttributes")),
            f(2, "nonResourceAttributes", Msg("NonResourceAttributes")),
        ],
    ),
    (
        "ResourceAttributes",
        &[
            f(1, "namespace", Str),
            f(2, "verb", Str),
            f(3, "group", Str),
            f(4, "version", Str),
            f(5, "resource", Str),
            f(6, "subresource", Str),
            f(7, "name", Str),
        ],
    ),
    (
        "NonResourceAttributes",
        &[f(1, "path", Str), f(2, "verb", Str)],
    ),
    ("SelfSubjectReview", &[f(1, "metadata", Msg("ObjectMeta"))]),
    (
        "SelfSubjectRulesReview",
        &[
            f(1, "metadata", Msg("ObjectMeta")),
            f(2, "spec", Msg("SelfSubjectRulesReviewSpec")),
        ],
    ),
    ("SelfSubjectRulesReviewSpec", &[f(1, "namespace", Str)]),
    (
        "DeleteOptions",
        &[
            f(1, "gracePeriodSeconds", Int),
            f(2, "preconditions", Msg("Preconditions")),
            f(3, "orphanDependents", Bool),
            f(4, "propagationPolicy", Str),
            r(5, "dryRun", Str),
        ],
    ),
    (
        "Preconditions",
        &[f(1, "uid", Str), f(2, "resourceVersion", Str)],
    ),
];

fn schema(name: &str) -> &'static [Field] {
    SCHEMAS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .unwrap_or(&[])
}

fn bad(what: &str) -> ApiError {
    ApiError::bad_request(format!(
        "the body of the request could not be decoded as protobuf: {what}"
    ))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| bad("truncated varint"))?;
            self.pos += 1;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(bad("varint too long"))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.varint()? as usize;
        let end = self
            .pos
            .checked_add(len)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| bad("truncated field"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// The next (tag, wire type, payload) triple; payload is the varint value or the bytes.
    fn next(&mut self) -> Result<Option<(u64, Payload<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let payload = match key & 7 {
            0 => Payload::Varint(self.varint()?),
            1 => {
                self.pos += 8;
                Payload::Skip
            }
            2 => Payload::Bytes(self.bytes()?),
            5 => {
                self.pos += 4;
                Payload::Skip
            }
            other => return Err(bad(&format!("unsupported wire type {other}"))),
        };
        Ok(Some((key >> 3, payload)))
    }
}

enum Payload<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Skip,
}

fn text(b: &[u8]) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|_| bad("invalid UTF-8"))
}

fn map_entry(b: &[u8], value_kind: Kind) -> Result<(String, Value)> {
    let mut rd = Reader { buf: b, pos: 0 };
    let (mut key, mut value) = (String::new(), Value::String(String::new()));
    while let Some((tag, p)) = rd.next()? {
        if let Payload::Bytes(bytes) = p {
            match tag {
                1 => key = text(bytes)?,
                2 => value = scalar(bytes, value_kind)?,
                _ => {}
            }
        }
    }
    Ok((key, value))
}

fn scalar(bytes: &[u8], kind: Kind) -> Result<Value> {
    Ok(match kind {
        MapBytes => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
        MapQuantity => message(bytes, "Quantity")?
            .get("string")
            .cloned()
            .unwrap_or(Value::Null),
        _ => Value::String(text(bytes)?),
    })
}

fn message(buf: &[u8], name: &str) -> Result<Value> {
    let mut out = Map::new();
    if name == "Quantity" {
        let mut rd = Reader { buf, pos: 0 };
        while let Some((tag, p)) = rd.next()? {
            if let (1, Payload::Bytes(b)) = (tag, p) {
                out.insert("string".into(), text(b)?.into());
            }
        }
        return Ok(Value::Object(out));
    }
    let fields = schema(name);
    let mut rd = Reader { buf, pos: 0 };
    while let Some((tag, payload)) = rd.next()? {
        let Some(field) = fields.iter().find(|fd| fd.tag == tag) else {
            continue;
        };
        let value = match (field.kind, payload) {
            (Int, Payload::Varint(v)) => Value::from(v as i64),
            (Bool, Payload::Varint(v)) => Value::from(v != 0),
            (Str, Payload::Bytes(b)) => Value::String(text(b)?),
            (Msg(inner), Payload::Bytes(b)) => message(b, inner)?,
            (Inline(inner), Payload::Bytes(b)) => {
                if let Value::Object(m) = message(b, inner)? {
                    out.extend(m);
                }
                continue;
            }
            (MapStr | MapBytes | MapQuantity, Payload::Bytes(b)) => {
                let kind = match field.kind {
                    MapStr => Str,
                    other => other,
                };
                let (k, v) = map_entry(b, kind)?;
                let map = out
                    .entry(field.name)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(m) = map.as_object_mut() {
                    m.insert(k, v);
                }
                continue;
            }
            (Time, Payload::Bytes(b)) => {
                let mut rd = Reader { buf: b, pos: 0 };
                let mut secs = 0i64;
                while let Some((t, p)) = rd.next()? {
                    if let (1, Payload::Varint(v)) = (t, p) {
                        secs = v as i64;
                    }
                }
                match chrono::DateTime::from_timestamp(secs, 0) {
                    Some(t) if secs != 0 => Value::String(crate::meta::time(t)),
                    _ => Value::Null,
                }
            }
            (IntOrString, Payload::Bytes(b)) => {
                let mut rd = Reader { buf: b, pos: 0 };
                let mut v = Value::Null;
                while let Some((t, p)) = rd.next()? {
                    match (t, p) {
                        (2, Payload::Varint(n)) => v = Value::from(n as i64),
                        (3, Payload::Bytes(s)) => v = Value::String(text(s)?),
                        _ => {}
                    }
                }
                v
            }
            _ => continue,
        };
        if field.repeated {
            let list = out
                .entry(field.name)
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Some(a) = list.as_array_mut() {
                a.push(value);
            }
        } else {
            out.insert(field.name.into(), value);
        }
    }
    Ok(Value::Object(out))
}

/// Whether a `Content-Type` is the Kubernetes protobuf encoding.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type.starts_with("application/vnd.kubernetes.protobuf")
}

/// Decodes a protobuf request body into JSON.
pub fn decode(body: &[u8]) -> Result<Value> {
    let rest = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| bad("missing the k8s magic prefix"))?;
    let mut rd = Reader { buf: rest, pos: 0 };
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while let Some((tag, p)) = rd.next()? {
        match (tag, p) {
            (1, Payload::Bytes(b)) => {
                let mut tm = Reader { buf: b, pos: 0 };
                while let Some((t, p)) = tm.next()? {
                    match (t, p) {
                        (1, Payload::Bytes(v)) => api_version = text(v)?,
                        (2, Payload::Bytes(v)) => kind = text(v)?,
                        _ => {}
                    }
                }
            }
            (2, Payload::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    if schema(&kind).is_empty() {
        return Err(ApiError::unsupported_media_type(&format!(
            "application/vnd.kubernetes.protobuf for {kind}"
        )));
    }
    let mut obj = message(raw, &kind)?;
    obj["apiVersion"] = api_version.into();
    obj["kind"] = kind.into();
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(tag: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![((tag << 3) | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn decodes_a_configmap() {
        let meta = field(1, b"cfg");
        let entry = [field(1, b"k"), field(2, b"v")].concat();
        let cm = [field(1, &meta), field(2, &entry)].concat();
        let type_meta = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &cm)].concat();
        let v = decode(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"k": "v"}})
        );
    }
}
