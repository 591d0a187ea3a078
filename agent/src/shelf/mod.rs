//! Empty-shelf detection. A shelf zone is a shelf face (four corners as the camera sees it)
//! split into levels and bays; every `interval_s` the cells no person hides are cut out
//! perspective-corrected (`warp`), read by a small classifier trained on synthetic shelves
//! (`classifier`, `models/shelf/`) or a customer's gap detector (`gaps`), and checked against the store's own stocked reference
//! (`reference`, from `aisle shelf calibrate`). The readings become the zone's fill ratio and
//! empty cells in the camera's analytics, where the ordinary alert rules
//! (`shelf.fill < 0.3 for 5m`) debounce and clear them.

pub mod classifier;
pub mod eval;
pub mod gaps;
pub mod photos;
mod read;
pub mod reference;
mod settings;
pub mod shelves;
pub mod warp;
pub mod watch;

pub use classifier::{CellModel, ShelfModel, ShelfModelError};
pub use reference::{ReferenceError, Snapshot};
pub use settings::ShelfConfig;
pub use shelves::Shelves;
pub use watch::{CameraShelves, Face, ReadShelf, ShelfError, WatchSettings};
