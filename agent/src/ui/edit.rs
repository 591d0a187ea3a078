//! Zones edited in the page, written back into the config's TOML with `toml_edit`, so every
//! comment, key order and untouched value stays as the installer wrote it. Only what changed is
//! rewritten: a zone's name, its points, a shelf's levels and bays; a new zone is appended, a
//! deleted one removed with its comments. Whether the result is a valid config is not decided
//! here but by `Config::load`, exactly as `aisle check-config` decides it.

use serde::Deserialize;
use thiserror::Error;
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, Value};

use crate::analytics::zones::ZoneKind;

/// What the page sends on Save: every camera it shows, with its zones. Kept zones stay where the
/// file has them, with their comments; new ones follow the camera's last zone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    /// The file's version when the page loaded it (`version` in `/api/state`): a save over a
    /// file that changed since is refused rather than undoing the other change.
    #[serde(default)]
    pub version: Option<String>,
    pub cameras: Vec<EditedCamera>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditedCamera {
    pub id: String,
    pub zones: Vec<EditedZone>,
}

/// A zone as the page holds it, in the zone's own units.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditedZone {
    /// Its index in the camera's zones when the page loaded; `None` for a zone added there.
    pub origin: Option<usize>,
    pub name: String,
    pub kind: ZoneKind,
    #[serde(default)]
    pub polygon: Vec<[f64; 2]>,
    #[serde(default)]
    pub line: Vec<[f64; 2]>,
    #[serde(default)]
    pub service_line: Vec<[f64; 2]>,
    pub rows: Option<u32>,
    pub bays: Option<u32>,
    /// Decimal places the points are written with (4 for normalized units, 1 for pixels).
    #[serde(default = "four")]
    pub decimals: u32,
}

fn four() -> u32 {
    4
}

#[derive(Debug, Error, PartialEq)]
pub enum EditError {
    #[error("the config is not TOML any more: {0}")]
    Toml(String),
    #[error("the config has no [[cameras]] with id {0:?}")]
    NoCamera(String),
    #[error(
        "cameras {camera:?}: zone {origin} does not exist (the config changed since the page loaded it)"
    )]
    NoZone { camera: String, origin: usize },
    #[error(
        "cameras {camera:?}: zone {name:?} is a {was} zone; a zone's kind is not changed, add a new one"
    )]
    KindChanged {
        camera: String,
        name: String,
        was: String,
    },
}

/// `text` with the cameras' zones replaced by the edited ones.
pub fn apply(text: &str, edit: &Edit) -> Result<String, EditError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Toml(e.to_string()))?;
    let cameras = doc
        .get_mut("cameras")
        .and_then(Item::as_array_of_tables_mut);
    let Some(cameras) = cameras else {
        return match edit.cameras.first() {
            Some(c) => Err(EditError::NoCamera(c.id.clone())),
            None => Ok(text.to_string()),
        };
    };
    for edited in &edit.cameras {
        let camera = cameras
            .iter_mut()
            .find(|t| t.get("id").and_then(Item::as_str) == Some(edited.id.as_str()))
            .ok_or_else(|| EditError::NoCamera(edited.id.clone()))?;
        let old = zone_tables(camera.get("zones"));
        let mut zones = ArrayOfTables::new();
        for z in &edited.zones {
            let mut table = match z.origin {
                Some(i) => old.get(i).cloned().ok_or(EditError::NoZone {
                    camera: edited.id.clone(),
                    origin: i,
                })?,
                None => {
                    let mut t = Table::new();
                    t.insert("name", toml_edit::value(z.name.as_str()));
                    t.insert("kind", toml_edit::value(z.kind.name()));
                    t
                }
            };
            let was = table.get("kind").and_then(Item::as_str).unwrap_or("");
            if was != z.kind.name() {
                return Err(EditError::KindChanged {
                    camera: edited.id.clone(),
                    name: z.name.clone(),
                    was: was.to_string(),
                });
            }
            update(&mut table, z);
            zones.push(table);
        }
        if zones.is_empty() {
            camera.remove("zones");
        } else {
            camera.insert("zones", Item::ArrayOfTables(zones));
        }
    }
    Ok(doc.to_string())
}

/// A camera's zones as tables, whether written as `[[cameras.zones]]` or inline.
fn zone_tables(item: Option<&Item>) -> Vec<Table> {
    match item {
        Some(Item::ArrayOfTables(a)) => a.iter().cloned().collect(),
        Some(Item::Value(Value::Array(a))) => a
            .iter()
            .filter_map(Value::as_inline_table)
            .map(|t| t.clone().into_table())
            .collect(),
        _ => Vec::new(),
    }
}

/// Sets what the page edits on a zone's table, leaving each key that did not change as written.
fn update(table: &mut Table, z: &EditedZone) {
    if table.get("name").and_then(Item::as_str) != Some(z.name.as_str()) {
        set(table, "name", Value::from(z.name.as_str()));
    }
    for (key, points) in [
        ("polygon", &z.polygon),
        ("line", &z.line),
        ("service_line", &z.service_line),
    ] {
        let rounded: Vec<[f64; 2]> = points
            .iter()
            .map(|p| p.map(|v| round(v, z.decimals)))
            .collect();
        if rounded.is_empty() {
            table.remove(key);
        } else if read_points(table.get(key)).as_deref() != Some(rounded.as_slice()) {
            set(table, key, Value::Array(points_array(&rounded)));
        }
    }
    for (key, n) in [("rows", z.rows), ("bays", z.bays)] {
        let now = table.get(key).and_then(Item::as_integer);
        match n {
            Some(n) if now != Some(i64::from(n)) => set(table, key, Value::from(i64::from(n))),
            None if now.is_some() => {
                table.remove(key);
            }
            _ => {}
        }
    }
}

/// Replaces a value, keeping the key (and the comments above it) where it is.
fn set(table: &mut Table, key: &str, value: Value) {
    match table.get_mut(key) {
        Some(item) => {
            let decor = item.as_value().map(|v| v.decor().clone());
            *item = Item::Value(value);
            if let (Some(decor), Some(v)) = (decor, item.as_value_mut()) {
                *v.decor_mut() = decor;
            }
        }
        None => {
            table.insert(key, Item::Value(value));
        }
    }
}

fn read_points(item: Option<&Item>) -> Option<Vec<[f64; 2]>> {
    let number = |v: &Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
    item?
        .as_array()?
        .iter()
        .map(|p| {
            let p = p.as_array()?;
            match (
                p.get(0).and_then(number),
                p.get(1).and_then(number),
                p.len(),
            ) {
                (Some(x), Some(y), 2) => Some([x, y]),
                _ => None,
            }
        })
        .collect()
}

fn points_array(points: &[[f64; 2]]) -> Array {
    let mut outer = Array::new();
    for &[x, y] in points {
        let mut p = Array::new();
        p.push(x);
        p.push(y);
        outer.push(p);
    }
    outer
}

fn round(v: f64, decimals: u32) -> f64 {
    let f = 10f64.powi(decimals.min(9) as i32);
    (v * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"# the store's gateway
[agent]
device_id = "gw"

[[cameras]]
id = "door"
uri = "rtsp://cam"

# where people wait
[[cameras.zones]]
name = "till"
kind = "queue"
# outline of the queue
polygon = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.9]]
service_line = [[0.5, 0.1], [0.5, 0.9]] # the counter

[[cameras.zones]]
name = "entrance"
kind = "line"
line = [[0.0, 0.5], [1.0, 0.5]]
band = 0.02
"#;

    fn zone(origin: Option<usize>, name: &str, kind: ZoneKind) -> EditedZone {
        EditedZone {
            origin,
            name: name.into(),
            kind,
            polygon: Vec::new(),
            line: Vec::new(),
            service_line: Vec::new(),
            rows: None,
            bays: None,
            decimals: 4,
        }
    }

    fn unchanged() -> Vec<EditedZone> {
        let mut till = zone(Some(0), "till", ZoneKind::Queue);
        till.polygon = vec![[0.1, 0.1], [0.5, 0.1], [0.5, 0.9]];
        till.service_line = vec![[0.5, 0.1], [0.5, 0.9]];
        let mut entrance = zone(Some(1), "entrance", ZoneKind::Line);
        entrance.line = vec![[0.0, 0.5], [1.0, 0.5]];
        vec![till, entrance]
    }

    fn edit(zones: Vec<EditedZone>) -> Edit {
        Edit {
            version: None,
            cameras: vec![EditedCamera {
                id: "door".into(),
                zones,
            }],
        }
    }

    #[test]
    fn nothing_changed_writes_the_same_text() {
        assert_eq!(apply(CONFIG, &edit(unchanged())).unwrap(), CONFIG);
    }

    #[test]
    fn a_moved_corner_changes_that_value_and_keeps_every_comment() {
        let mut zones = unchanged();
        zones[0].polygon[2] = [0.612345, 0.8];
        let out = apply(CONFIG, &edit(zones)).unwrap();
        assert!(
            out.contains("polygon = [[0.1, 0.1], [0.5, 0.1], [0.6123, 0.8]]"),
            "{out}"
        );
        for kept in [
            "# the store's gateway",
            "# where people wait",
            "# outline of the queue",
            "# the counter",
            "band = 0.02",
        ] {
            assert!(out.contains(kept), "{kept} lost:\n{out}");
        }
        assert_eq!(out.lines().count(), CONFIG.lines().count());
    }

    /// Each camera's zone names, as a TOML reader sees the text.
    fn zone_names(text: &str) -> Vec<Vec<String>> {
        let doc: toml::Table = toml::from_str(text).unwrap();
        doc["cameras"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                c.get("zones")
                    .and_then(|z| z.as_array())
                    .map(|zs| {
                        zs.iter()
                            .map(|z| z["name"].as_str().unwrap().to_string())
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn zones_are_added_and_removed_with_their_comments_on_the_right_camera() {
        let text = format!(
            "{CONFIG}\n[[cameras]]\nid = \"back\"\nuri = \"rtsp://cam2\"\n\n[[cameras.zones]]\nname = \"yard\"\nkind = \"area\"\npolygon = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]\n\n# alerts\n[[rules]]\nname = \"q\"\nzone = \"till\"\nwhen = \"queue.length >= 3\"\n"
        );
        let mut zones = unchanged();
        let till = zones.remove(0);
        let mut shelf = zone(None, "bay-1", ZoneKind::Shelf);
        shelf.polygon = vec![[0.2, 0.2], [0.4, 0.2], [0.4, 0.4], [0.2, 0.4]];
        shelf.rows = Some(3);
        shelf.bays = Some(2);
        zones.push(till);
        zones.push(shelf);
        let mut e = edit(zones);
        e.cameras[0].zones.remove(1);
        let out = apply(&text, &e).unwrap();
        assert_eq!(
            zone_names(&out),
            [vec!["entrance", "bay-1"], vec!["yard"]],
            "{out}"
        );
        let bay = out.find("name = \"bay-1\"").unwrap();
        assert!(bay < out.find("id = \"back\"").unwrap(), "{out}");
        assert!(out.contains("# alerts\n[[rules]]"), "{out}");
        assert!(
            !out.contains("# where people wait"),
            "the till's comments went with it: {out}"
        );
        assert!(
            out.contains("rows = 3") && out.contains("bays = 2"),
            "{out}"
        );
        let out = apply(CONFIG, &edit(vec![])).unwrap();
        assert!(!out.contains("[[cameras.zones]]"), "{out}");
        assert!(out.contains("# the store's gateway"));
    }

    #[test]
    fn stale_or_impossible_edits_are_refused() {
        let mut zones = unchanged();
        zones[1].origin = Some(7);
        assert!(matches!(
            apply(CONFIG, &edit(zones)),
            Err(EditError::NoZone { origin: 7, .. })
        ));
        let mut zones = unchanged();
        zones[1].kind = ZoneKind::Area;
        assert!(matches!(
            apply(CONFIG, &edit(zones)),
            Err(EditError::KindChanged { .. })
        ));
        let mut e = edit(unchanged());
        e.cameras[0].id = "other".into();
        assert_eq!(apply(CONFIG, &e), Err(EditError::NoCamera("other".into())));
    }
}
