//! Variables in template text: `{{1}}` and `{{name}}`.
