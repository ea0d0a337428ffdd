//! What the macros ask of argument and result types, answered per type at compile time.
//!
//! A flow's or task's argument need not be `Serialize`, a result need not be `Deserialize`, and a
//! flow's parameter need not implement `JsonSchema`: the generated code probes the type with
//! method resolution ("autoref specialisation"). `(&Probe::<T>::new()).method(..)` finds the
//! capable implementation when `T` has the trait and the fallback otherwise, so a task can take a
//! database pool (recorded as `null`) and a flow can return a type that is never persisted.
//!
//! Each capability has a pair of traits: `Via*` implemented for `Probe<T>` when `T` qualifies,
//! `No*` implemented for every `&Probe<T>`. The generated code imports both pairs anonymously.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::marker::PhantomData;

/// A zero-sized stand-in for the type `T` being probed.
pub struct Probe<T: ?Sized>(PhantomData<fn() -> Box<T>>);

impl<T: ?Sized> Probe<T> {
    pub fn new() -> Self {
        Probe(PhantomData)
    }

    /// The probe of a value's type (lets inference name types the macro cannot write down).
    pub fn of(_: &T) -> Self {
        Probe(PhantomData)
    }

    /// The probe of the type an `Option` holds.
    pub fn of_option(_: &Option<T>) -> Self
    where
        T: Sized,
    {
        Probe(PhantomData)
    }
}

impl<T: ?Sized> Default for Probe<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Turns a result into JSON and back, when its type allows; the runtime persists and caches
/// only results with both directions.
pub struct Codec<T> {
    pub encode: Option<fn(&T) -> Option<Value>>,
    pub decode: Option<fn(Value) -> Result<T, String>>,
}

impl<T> Clone for Codec<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Codec<T> {}

impl<T> Codec<T> {
    /// A codec for a type without a JSON form.
    pub const NONE: Codec<T> = Codec {
        encode: None,
        decode: None,
    };

    /// Both directions exist: the result can be persisted and read back.
    pub fn round_trips(&self) -> bool {
        self.encode.is_some() && self.decode.is_some()
    }
}

fn encode_json<T: Serialize>(value: &T) -> Option<Value> {
    serde_json::to_value(value).ok()
}

fn decode_json<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

pub trait ViaSerde<T> {
    fn codec(&self) -> Codec<T>;
}

impl<T: Serialize + DeserializeOwned> ViaSerde<T> for Probe<T> {
    fn codec(&self) -> Codec<T> {
        Codec {
            encode: Some(encode_json::<T>),
            decode: Some(decode_json::<T>),
        }
    }
}

pub trait NoSerde<T> {
    fn codec(&self) -> Codec<T>;
}

impl<T> NoSerde<T> for &Probe<T> {
    fn codec(&self) -> Codec<T> {
        Codec::NONE
    }
}

pub trait ViaSerialize<T: ?Sized> {
    /// The value as JSON (`null` if serialising fails, e.g. a map with non-text keys).
    fn to_json(&self, value: &T) -> Value;
}

impl<T: Serialize + ?Sized> ViaSerialize<T> for Probe<T> {
    fn to_json(&self, value: &T) -> Value {
        serde_json::to_value(value).unwrap_or(Value::Null)
    }
}

pub trait NoSerialize<T: ?Sized> {
    fn to_json(&self, value: &T) -> Value;
}

impl<T: ?Sized> NoSerialize<T> for &Probe<T> {
    fn to_json(&self, _: &T) -> Value {
        Value::Null
    }
}

/// The arguments of one attempt of a function whose attribute has no retries (with retries the
/// generated code clones each argument itself): a copy when the arguments are `Clone`, so retries
/// chosen at run time (`with_options().retries(n)`) get their own copy, else the arguments
/// themselves, once.
pub trait ViaClone<T> {
    fn next_args(&self, slot: &mut Option<T>) -> Option<T>;
}

impl<T: Clone> ViaClone<T> for Probe<T> {
    fn next_args(&self, slot: &mut Option<T>) -> Option<T> {
        slot.clone()
    }
}

pub trait NoClone<T> {
    fn next_args(&self, slot: &mut Option<T>) -> Option<T>;
}

impl<T> NoClone<T> for &Probe<T> {
    fn next_args(&self, slot: &mut Option<T>) -> Option<T> {
        slot.take()
    }
}

pub trait ViaDeserialize<T> {
    /// The parameter `name` read from `value`.
    fn read_json(&self, name: &str, value: Value) -> Result<T, String>;
}

impl<T: DeserializeOwned> ViaDeserialize<T> for Probe<T> {
    fn read_json(&self, name: &str, value: Value) -> Result<T, String> {
        serde_json::from_value(value).map_err(|e| format!("parameter `{name}`: {e}"))
    }
}

pub trait NoDeserialize<T> {
    fn read_json(&self, name: &str, value: Value) -> Result<T, String>;
}

impl<T> NoDeserialize<T> for &Probe<T> {
    fn read_json(&self, name: &str, _: Value) -> Result<T, String> {
        Err(format!(
            "parameter `{name}` has type {}, which cannot be read from JSON (it does not \
             implement serde::Deserialize)",
            std::any::type_name::<T>()
        ))
    }
}

pub trait ViaSchema<T> {
    /// The JSON schema of `T`, its definitions added to `generator`.
    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> Value;
}

impl<T: schemars::JsonSchema> ViaSchema<T> for Probe<T> {
    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> Value {
        generator.subschema_for::<T>().to_value()
    }
}

pub trait NoSchema<T> {
    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> Value;
}

impl<T> NoSchema<T> for &Probe<T> {
    fn schema(&self, _: &mut schemars::SchemaGenerator) -> Value {
        Value::Object(serde_json::Map::new())
    }
}

#[cfg(test)]
// The borrows clippy calls needless are what select the implementation.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Opaque;

    #[test]
    fn capable_types_get_the_real_implementation_and_others_the_fallback() {
        assert!((&Probe::<u32>::new()).codec().round_trips());
        assert!(!(&Probe::<Opaque>::new()).codec().round_trips());
        assert_eq!(
            (&Probe::of(&vec![1, 2])).to_json(&vec![1, 2]),
            json!([1, 2])
        );
        assert_eq!((&Probe::of(&Opaque)).to_json(&Opaque), Value::Null);
        assert_eq!((&Probe::<u8>::new()).read_json("n", json!(7)), Ok(7));
        let error = (&Probe::<u8>::new())
            .read_json("n", json!("x"))
            .unwrap_err();
        assert!(error.starts_with("parameter `n`"), "{error}");
        let error = (&Probe::<Opaque>::new())
            .read_json("o", json!(1))
            .err()
            .unwrap();
        assert!(error.contains("serde::Deserialize"), "{error}");
        let mut generator = schemars::SchemaGenerator::default();
        assert_eq!(
            (&Probe::<u32>::new()).schema(&mut generator)["type"],
            "integer"
        );
        assert_eq!((&Probe::<Opaque>::new()).schema(&mut generator), json!({}));
    }
}
