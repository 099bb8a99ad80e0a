//! How a media looks on the native API (the store's view: `media.stored` events carry the
//! same).

pub use openbsp_store::views::MediaView;
