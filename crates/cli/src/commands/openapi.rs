//! `openbsp openapi`: prints the native API's OpenAPI 3.1 description, the document a
//! gateway serves at `/openapi.json`, without a gateway or a database (to generate a client,
//! or to diff the API between two versions).

use openbsp_server::native;

/// The description as pretty JSON, with a final newline.
pub fn document() -> anyhow::Result<String> {
    let mut json = serde_json::to_string_pretty(native::openapi())?;
    json.push('\n');
    Ok(json)
}

/// Prints the description to stdout.
pub fn run() -> anyhow::Result<()> {
    print!("{}", document()?);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_printed_document_is_the_served_one() {
        let printed: serde_json::Value = serde_json::from_str(&super::document().unwrap()).unwrap();
        assert_eq!(printed["openapi"], "3.1.0");
        assert_eq!(
            printed,
            serde_json::to_value(openbsp_server::native::openapi()).unwrap()
        );
    }
}
