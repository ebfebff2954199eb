//! Daemon JSON → template values, keeping the daemon's key order, telling
//! Go maps from Go structs, and the Go-type knowledge docker's typed
//! templates have (field aliases, zero values, `time.Time` fields).

use std::rc::Rc;

use super::value::{looks_like_go_field, ObjKind, Object, Value};

/// Field names whose JSON objects are Go maps in docker's API types (labels,
/// options, port sets, ...): their keys are data, not struct fields.
const MAP_FIELDS: &[&str] = &[
    "Labels",
    "Options",
    "ExposedPorts",
    "Volumes",
    "Networks",
    "Ports",
    "PortBindings",
    "DriverOpts",
    "Sysctls",
    "StorageOpt",
    "Tmpfs",
    "Annotations",
    "Data",
    "LogConfig.Config",
    "Details",
    "Runtimes",
    "IndexConfigs",
    "DriverStatus",
];

/// Nullable fields of docker's API structs (slices, maps, pointers). A
/// daemon that leaves them out of its JSON still has them in docker's Go
/// types, where they print as `[]`, `map[]` or `<nil>`.
pub fn zero_field(name: &str) -> Option<Value> {
    const LISTS: &[&str] = &[
        "Entrypoint",
        "Cmd",
        "Env",
        "OnBuild",
        "Shell",
        "Binds",
        "Links",
        "VolumesFrom",
        "CapAdd",
        "CapDrop",
        "Dns",
        "DnsOptions",
        "DnsSearch",
        "ExtraHosts",
        "GroupAdd",
        "SecurityOpt",
        "Devices",
        "DeviceCgroupRules",
        "DeviceRequests",
        "Ulimits",
        "MaskedPaths",
        "ReadonlyPaths",
        "Mounts",
        "Args",
        "RepoTags",
        "RepoDigests",
        "Aliases",
        "DNSNames",
        "BlkioWeightDevice",
        "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps",
        "ExecIDs",
        "Layers",
        "Warnings",
    ];
    const MAPS: &[&str] = &[
        "Labels",
        "Volumes",
        "ExposedPorts",
        "PortBindings",
        "Ports",
        "Networks",
        "Tmpfs",
        "Sysctls",
        "StorageOpt",
        "Annotations",
        "Options",
        "DriverOpts",
    ];
    const PTRS: &[&str] = &[
        "Healthcheck",
        "StopTimeout",
        "Health",
        "Init",
        "OomKillDisable",
        "PidsLimit",
        "MemorySwappiness",
        "IPAMConfig",
        "Platform",
        "Descriptor",
        "ImageManifestDescriptor",
        "SizeRw",
        "SizeRootFs",
    ];
    if LISTS.contains(&name) {
        Some(Value::NilList)
    } else if MAPS.contains(&name) {
        Some(Value::NilMap)
    } else if PTRS.contains(&name) {
        Some(Value::Nil)
    } else {
        None
    }
}

/// Fields that are `time.Time` in docker's types print as Go times.
pub fn go_time_field(name: &str, v: &Value) -> Option<Value> {
    match (name, v) {
        ("LastTagTime", Value::Str(s)) => Some(Value::Str(crate::format::gotime::rfc3339_to_go(s))),
        _ => None,
    }
}

fn is_map_field(parent: Option<&str>, key: &str) -> bool {
    MAP_FIELDS.iter().any(|f| match f.split_once('.') {
        Some((p, k)) => parent == Some(p) && k == key,
        None => *f == key,
    })
}

/// Go field names whose JSON names differ (`ID` is sent as `Id`, ...):
/// docker's typed templates use the Go names, its raw fallback the JSON
/// names; both work there, so both work here.
pub fn json_alias(go_name: &str) -> Option<&'static str> {
    Some(match go_name {
        "ID" => "Id",
        "APIVersion" => "ApiVersion",
        "HTTPProxy" => "HttpProxy",
        "HTTPSProxy" => "HttpsProxy",
        "CPUShares" => "CpuShares",
        "NanoCPUs" => "NanoCpus",
        "CPUPeriod" => "CpuPeriod",
        "CPUQuota" => "CpuQuota",
        "CPURealtimePeriod" => "CpuRealtimePeriod",
        "CPURealtimeRuntime" => "CpuRealtimeRuntime",
        "CPUCount" => "CpuCount",
        "CPUPercent" => "CpuPercent",
        "CPUCfsPeriod" => "CpuCfsPeriod",
        "CPUCfsQuota" => "CpuCfsQuota",
        "DNS" => "Dns",
        "DNSOptions" => "DnsOptions",
        "DNSSearch" => "DnsSearch",
        _ => return None,
    })
}

/// Parses JSON bytes into template values, keeping the daemon's key order
/// (serde_json's map would sort them).
pub fn parse_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = Seed(None, None).deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// Deserializes one JSON value; carries the key it sits under (and that
/// key's parent) so map-typed fields are recognised.
struct Seed(Option<String>, Option<String>);

impl<'de> serde::de::DeserializeSeed<'de> for Seed {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Seed {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(i64::try_from(u)
            .map(Value::Int)
            .unwrap_or(Value::Float(u as f64)))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::Str(s))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element_seed(Seed(None, None))? {
            v.push(x);
        }
        Ok(Value::List(Rc::new(v)))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields: Vec<(String, Value)> = Vec::new();
        let parent_is_map = self
            .0
            .as_deref()
            .is_some_and(|k| is_map_field(self.1.as_deref(), k));
        while let Some(k) = map.next_key::<String>()? {
            let seed = if parent_is_map {
                Seed(None, None)
            } else {
                Seed(Some(k.clone()), self.0.clone())
            };
            let v = map.next_value_seed(seed)?;
            fields.push((k, v));
        }
        let is_map = parent_is_map || fields.iter().any(|(k, _)| !looks_like_go_field(k));
        let mut o = Object::new(
            if is_map {
                ObjKind::Map
            } else {
                ObjKind::Struct
            },
            "map[string]interface {}",
        );
        o.fields = fields;
        Ok(Value::Obj(Rc::new(o)))
    }
}
