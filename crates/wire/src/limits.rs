//! Meta's payload limits (reference `cloud-api.md` §1).

/// Longest text body, in characters.
pub const TEXT_BODY_MAX: usize = 4096;
/// Longest `biz_opaque_callback_data`, in characters.
pub const BIZ_OPAQUE_CALLBACK_DATA_MAX: usize = 512;
/// Fewest digits in a phone number Meta will route.
pub const PHONE_DIGITS_MIN: usize = 7;
/// Most digits in an E.164 phone number.
pub const PHONE_DIGITS_MAX: usize = 15;
/// Largest webhook payload Meta sends (3 MB).
pub const WEBHOOK_MAX_BYTES: usize = 3 * 1024 * 1024;
/// Longest media caption (image, video, document), in characters.
pub const MEDIA_CAPTION_MAX: usize = 1024;
/// Longest document file name, in characters.
pub const FILENAME_MAX: usize = 240;
/// Longest uploaded-media id.
pub const MEDIA_ID_MAX: usize = 256;
/// Longest location name or address, in characters.
pub const LOCATION_TEXT_MAX: usize = 1000;
/// Most characters (code points) in one reaction emoji, sequences included.
pub const EMOJI_CHARS_MAX: usize = 10;
/// Longest template name.
pub const TEMPLATE_NAME_MAX: usize = 512;
