//! The parts of a `GET /containers/json` entry that `docker ps` shows,
//! decoded straight from the response bytes.
//!
//! With 1000 containers the response is ~600 kB; building a
//! `serde_json::Value` of all of it (and dropping it) was a third of
//! `pier ps -a`'s time. These types borrow strings from the response and
//! skip everything else. Every field is read leniently, exactly as the
//! `Value` look-ups they replace did (`as_str().unwrap_or_default()`,
//! `as_i64()`, `as_array()`, `as_object()`): a value of another type reads
//! as empty/zero instead of failing the decode. Because `&serde_json::Value`
//! is itself a deserializer, [`Summary::from_value`] runs the same code on an
//! already-parsed value.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// One container of the listing.
#[derive(Debug, Default)]
pub struct Summary<'a> {
    pub id: Cow<'a, str>,
    pub names: Vec<Cow<'a, str>>,
    pub image: Cow<'a, str>,
    pub image_id: Cow<'a, str>,
    pub command: Cow<'a, str>,
    pub created: i64,
    pub ports: Vec<Port<'a>>,
    pub size_rw: i64,
    pub size_root_fs: i64,
    /// Non-string values read as "".
    pub labels: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    pub state: Cow<'a, str>,
    pub status: Cow<'a, str>,
    pub mounts: Vec<Mount<'a>>,
    /// Keys of `NetworkSettings.Networks`.
    pub networks: BTreeSet<Cow<'a, str>>,
    /// `ImageManifestDescriptor.platform` when it is an object.
    pub platform: Option<Platform<'a>>,
}

#[derive(Debug, Default)]
pub struct Port<'a> {
    pub ip: Cow<'a, str>,
    pub private_port: i64,
    pub public_port: i64,
    pub typ: Cow<'a, str>,
}

#[derive(Debug, Default)]
pub struct Mount<'a> {
    pub name: Cow<'a, str>,
    pub source: Cow<'a, str>,
    pub driver: Cow<'a, str>,
}

#[derive(Debug, Default)]
pub struct Platform<'a> {
    pub os: Cow<'a, str>,
    pub architecture: Cow<'a, str>,
    pub variant: Cow<'a, str>,
}

impl<'a> Summary<'a> {
    /// The listing in a response body; anything but an array is no rows.
    pub fn list_from_slice(body: &'a [u8]) -> serde_json::Result<Vec<Summary<'a>>> {
        let List(rows) = serde_json::from_slice(body)?;
        Ok(rows)
    }

    /// One entry from an already-parsed value.
    pub fn from_value(v: &'a serde_json::Value) -> Summary<'a> {
        Summary::deserialize(v).unwrap_or_default()
    }
}

impl<'a> Port<'a> {
    /// One `Ports` entry from an already-parsed value.
    pub fn from_value(v: &'a serde_json::Value) -> Port<'a> {
        Port::deserialize(v).unwrap_or_default()
    }
}

/// Visitor methods for the JSON types a lenient reader does not want: each
/// gives the default (the nested value is read and discarded).
macro_rules! otherwise_default {
    ($($skip:ident)*) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        $(otherwise_default!(@$skip);)*
    };
    (@seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Default::default())
        }
    };
    (@map) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Default::default())
        }
    };
}

/// Implements `Deserialize` through `deserialize_any` with a visitor.
macro_rules! via_visitor {
    ($ty:ty, $visitor:ident) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any($visitor)
            }
        }
    };
}

fn expecting_any(f: &mut fmt::Formatter) -> fmt::Result {
    f.write_str("any JSON value")
}

/// The top level: an array of entries, or (anything else) none.
#[derive(Default)]
struct List<'a>(Vec<Summary<'a>>);
via_visitor!(List<'de>, ListVisitor);

/// A JSON array of `T` (`as_array()`); anything else reads as empty.
#[derive(Default)]
struct Array<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Array<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Array<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                expecting_any(f)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(x) = seq.next_element()? {
                    out.push(x);
                }
                Ok(Array(out))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Array(Vec::new()))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Array(Vec::new()))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Array(Vec::new()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Array(Vec::new()))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Array(Vec::new()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Array(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Array(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Array(Vec::new()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

struct ListVisitor;
impl<'de> Visitor<'de> for ListVisitor {
    type Value = List<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        expecting_any(f)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(row) = seq.next_element::<Summary<'de>>()? {
            rows.push(row);
        }
        Ok(List(rows))
    }
    otherwise_default!(map);
}

/// A JSON value read as `as_str()`: `Some` only for strings (borrowed from
/// the input when it has no escapes).
#[derive(Default)]
struct MaybeStr<'a>(Option<Cow<'a, str>>);
via_visitor!(MaybeStr<'de>, MaybeStrVisitor);

struct MaybeStrVisitor;
impl<'de> Visitor<'de> for MaybeStrVisitor {
    type Value = MaybeStr<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        expecting_any(f)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(MaybeStr(Some(Cow::Borrowed(v))))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(MaybeStr(Some(Cow::Owned(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(MaybeStr(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(MaybeStr(None))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(MaybeStr(None))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(MaybeStr(None))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(MaybeStr(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(MaybeStr(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(MaybeStr(None))
    }
    otherwise_default!(@seq);
    otherwise_default!(@map);
}

/// `as_str().unwrap_or_default()`.
fn string<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Cow<'de, str>, A::Error> {
    Ok(map.next_value::<MaybeStr<'de>>()?.0.unwrap_or_default())
}

/// A JSON value read as `as_i64().unwrap_or_default()`.
#[derive(Default)]
struct Int(i64);
via_visitor!(Int, IntVisitor);

struct IntVisitor;
impl<'de> Visitor<'de> for IntVisitor {
    type Value = Int;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        expecting_any(f)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        // `as_i64` is None above i64::MAX.
        Ok(Int(i64::try_from(v).unwrap_or(0)))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Int(0))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Int(0))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Int(0))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Int(0))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Int(0))
    }
    otherwise_default!(@seq);
    otherwise_default!(@map);
}

fn int<'de, A: MapAccess<'de>>(map: &mut A) -> Result<i64, A::Error> {
    Ok(map.next_value::<Int>()?.0)
}

/// An object read key by key (later duplicates win, as in a
/// `serde_json::Map`); any other JSON value reads as the default.
macro_rules! object {
    ($ty:ty, $visitor:ident, |$map:ident, $out:ident, $key:ident| $body:block) => {
        via_visitor!($ty, $visitor);
        struct $visitor;
        impl<'de> Visitor<'de> for $visitor {
            type Value = $ty;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                expecting_any(f)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut $map: A) -> Result<Self::Value, A::Error> {
                let mut $out = <$ty>::default();
                while let Some(MaybeStr($key)) = $map.next_key::<MaybeStr<'de>>()? {
                    let $key = $key.unwrap_or_default();
                    $body
                }
                Ok($out)
            }
            otherwise_default!(seq);
        }
    };
}

object!(Summary<'de>, SummaryVisitor, |map, s, key| {
    match &*key {
        "Id" => s.id = string(&mut map)?,
        "Names" => {
            let names = map.next_value::<Array<MaybeStr<'de>>>()?.0;
            s.names = names.into_iter().filter_map(|n| n.0).collect();
        }
        "Image" => s.image = string(&mut map)?,
        "ImageID" => s.image_id = string(&mut map)?,
        "Command" => s.command = string(&mut map)?,
        "Created" => s.created = int(&mut map)?,
        "Ports" => s.ports = map.next_value::<Array<Port<'de>>>()?.0,
        "SizeRw" => s.size_rw = int(&mut map)?,
        "SizeRootFs" => s.size_root_fs = int(&mut map)?,
        "Labels" => s.labels = map.next_value::<Labels<'de>>()?.0,
        "State" => s.state = string(&mut map)?,
        "Status" => s.status = string(&mut map)?,
        "Mounts" => s.mounts = map.next_value::<Array<Mount<'de>>>()?.0,
        "NetworkSettings" => s.networks = map.next_value::<NetworkSettings<'de>>()?.0,
        "ImageManifestDescriptor" => {
            s.platform = map.next_value::<ManifestDescriptor<'de>>()?.0;
        }
        _ => {
            map.next_value::<IgnoredAny>()?;
        }
    }
});

object!(Port<'de>, PortVisitor, |map, p, key| {
    match &*key {
        "IP" => p.ip = string(&mut map)?,
        "PrivatePort" => p.private_port = int(&mut map)?,
        "PublicPort" => p.public_port = int(&mut map)?,
        "Type" => p.typ = string(&mut map)?,
        _ => {
            map.next_value::<IgnoredAny>()?;
        }
    }
});

object!(Mount<'de>, MountVisitor, |map, m, key| {
    match &*key {
        "Name" => m.name = string(&mut map)?,
        "Source" => m.source = string(&mut map)?,
        "Driver" => m.driver = string(&mut map)?,
        _ => {
            map.next_value::<IgnoredAny>()?;
        }
    }
});

/// `Labels`: every key, its value when a string (else "").
#[derive(Default)]
struct Labels<'a>(BTreeMap<Cow<'a, str>, Cow<'a, str>>);

object!(Labels<'de>, LabelsVisitor, |map, labels, key| {
    let value = string(&mut map)?;
    labels.0.insert(key, value);
});

/// `NetworkSettings.Networks`: its keys.
#[derive(Default)]
struct NetworkSettings<'a>(BTreeSet<Cow<'a, str>>);

object!(
    NetworkSettings<'de>,
    NetworkSettingsVisitor,
    |map, ns, key| {
        if key == "Networks" {
            ns.0 = map.next_value::<Keys<'de>>()?.0;
        } else {
            map.next_value::<IgnoredAny>()?;
        }
    }
);

#[derive(Default)]
struct Keys<'a>(BTreeSet<Cow<'a, str>>);

object!(Keys<'de>, KeysVisitor, |map, keys, key| {
    map.next_value::<IgnoredAny>()?;
    keys.0.insert(key);
});

#[derive(Default)]
struct ManifestDescriptor<'a>(Option<Platform<'a>>);

object!(
    ManifestDescriptor<'de>,
    ManifestDescriptorVisitor,
    |map, md, key| {
        if key == "platform" {
            md.0 = map.next_value::<IfObject<Platform<'de>>>()?.0;
        } else {
            map.next_value::<IgnoredAny>()?;
        }
    }
);

object!(Platform<'de>, PlatformVisitor, |map, p, key| {
    match &*key {
        "os" => p.os = string(&mut map)?,
        "architecture" => p.architecture = string(&mut map)?,
        "variant" => p.variant = string(&mut map)?,
        _ => {
            map.next_value::<IgnoredAny>()?;
        }
    }
});

/// `Some(T)` when the value is an object (`as_object()`), else `None`.
struct IfObject<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for IfObject<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = IfObject<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                expecting_any(f)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|t| IfObject(Some(t)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(IfObject(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(IfObject(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(IfObject(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(IfObject(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(IfObject(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(IfObject(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(IfObject(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(IfObject(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decoding the bytes and reading the parsed `Value` agree, whatever the
    /// types in the input.
    #[test]
    fn bytes_and_values_read_alike() {
        let body = r#"[
          {"Id": "a\u00e9b", "Names": ["/x", 3, "/y/z"], "Image": null, "Created": 1.5,
           "Ports": [{"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}, 7],
           "Labels": {"b": "2", "a": 1, "b": "3"}, "SizeRw": 18446744073709551615,
           "Mounts": {"Name": "v"}, "NetworkSettings": {"Networks": {"n2": {}, "n1": {"x": [1]}}},
           "ImageManifestDescriptor": {"platform": {"os": "linux"}}, "Extra": [{"deep": [null]}]},
          42,
          {"Id": 5, "Names": "x", "Labels": [], "NetworkSettings": {"Networks": 1},
           "ImageManifestDescriptor": {"platform": {}}, "Created": -3, "Status": "Up \"1\""},
          {"ImageManifestDescriptor": {"platform": "linux"}, "Id": "first", "Id": "second"}
        ]"#;
        let fast = Summary::list_from_slice(body.as_bytes()).unwrap();
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        let slow: Vec<Summary> = value
            .as_array()
            .unwrap()
            .iter()
            .map(Summary::from_value)
            .collect();
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
        let first = &fast[0];
        assert_eq!(first.id, "aéb");
        assert_eq!(first.names, ["/x", "/y/z"]);
        assert_eq!(
            (first.image.as_ref(), first.created, first.size_rw),
            ("", 0, 0)
        );
        assert_eq!(first.ports.len(), 2);
        assert_eq!(first.labels.iter().collect::<Vec<_>>().len(), 2);
        assert_eq!(first.labels["a"], "");
        assert_eq!(first.labels["b"], "3");
        assert!(first.mounts.is_empty());
        assert_eq!(first.networks.iter().collect::<Vec<_>>(), ["n1", "n2"]);
        assert_eq!(
            first.platform.as_ref().map(|p| p.os.as_ref()),
            Some("linux")
        );
        assert!(fast[2].platform.is_some());
        assert!(fast[3].platform.is_none());
        assert_eq!(fast[3].id, "second");
        assert_eq!(fast[2].status, "Up \"1\"");
    }

    #[test]
    fn anything_but_an_array_is_no_rows() {
        assert!(Summary::list_from_slice(b"{\"a\": 1}").unwrap().is_empty());
        assert!(Summary::list_from_slice(b"null").unwrap().is_empty());
        assert!(Summary::list_from_slice(b"[1,").is_err());
    }
}
