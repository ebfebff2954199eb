//! Engine API views of volumes.

use pier_api::models::{self, VolumeScopeEnum, VolumeUsageData};
use serde_json::Value;

use crate::store::VolumeInfo;

/// Docker's `Volume` JSON. `usage` = `(size, ref count)` for `system df`.
/// Docker prints `CreatedAt` in RFC 3339 with seconds, and `Labels` and
/// `Options` as `null` when the volume was created without them (an
/// empty map when given empty, as `docker volume create` does).
pub fn volume(v: &VolumeInfo, usage: Option<(i64, i64)>) -> Value {
    let created = v
        .record
        .created_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let model = models::Volume {
        name: v.record.name.clone(),
        driver: v.record.driver.clone(),
        mountpoint: v.mountpoint.display().to_string(),
        // `BollardDate` differs with the stubs' features; JSON fits all.
        created_at: serde_json::from_value(Value::String(created)).ok(),
        status: None,
        labels: v.record.labels().clone(),
        scope: Some(VolumeScopeEnum::LOCAL),
        cluster_volume: None,
        options: v.record.options().clone(),
        usage_data: usage.map(|(size, ref_count)| VolumeUsageData { size, ref_count }),
    };
    let mut out = serde_json::to_value(&model).unwrap_or(Value::Null);
    if let Some(o) = out.as_object_mut() {
        if v.record.labels.is_none() {
            o.insert("Labels".into(), Value::Null);
        }
        if v.record.options.is_none() {
            o.insert("Options".into(), Value::Null);
        }
    }
    out
}
