//! Reading request bodies: JSON with errors that name the field at fault, and the documents of
//! `POST /documents` under the corpus file's rules.
//!
//! A document body is what `corpus.jsonl` holds (one `{"_id", "title", "text"}` object a line)
//! or a JSON array of such objects. The rules are the corpus reader's (`genret-data`): `_id` a
//! non-blank string or a number, `title` optional, `text` required and not blank unless the
//! title is not, other fields (`metadata`) ignored. Every document is checked before anything
//! is added, so a body with one bad document adds nothing.

use std::collections::HashMap;

use axum::http::StatusCode;
use genret_data::Document;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// Reads the body up to `limit` bytes; more is a 413 (the whole body is never buffered).
pub async fn read_limited(body: axum::body::Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(e) => {
            // `to_bytes` reports an over-long body as a length-limit error somewhere in its
            // source chain; anything else is the connection failing mid-body.
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = source {
                if s.is::<http_body_util::LengthLimitError>() {
                    return Err(too_large(limit));
                }
                source = s.source();
            }
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                Some("body"),
                format!("the body could not be read: {e}"),
            ))
        }
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::too_large(format!(
        "the body is over the server's limit of {limit} bytes (--max-body-bytes)"
    ))
}

/// Parses a JSON body into `T`. Malformed JSON is an `invalid_json` error on `body`; a value
/// of the wrong type, a missing or an unknown field names that field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_json(
            "body",
            "the body is empty; expected a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = match parsed {
        Ok(v) => v,
        Err(e) => return Err(json_error(e)),
    };
    de.end().map_err(|e| {
        ApiError::invalid_json("body", format!("malformed JSON: {e} (after the object)"))
    })?;
    Ok(value)
}

fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    use serde_json::error::Category;
    let path = e.path().to_string();
    let inner = e.inner();
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::invalid_json("body", format!("malformed JSON: {inner}"))
        }
        Category::Data => {
            let message = inner.to_string();
            // serde reports a missing or unknown field at the path of the object holding it;
            // the field's own name is in the message, between backticks.
            let named = ["missing field `", "unknown field `"]
                .iter()
                .find_map(|p| message.strip_prefix(p))
                .and_then(|rest| rest.split('`').next())
                .map(str::to_string);
            let field = match (named, path.as_str()) {
                (Some(name), "." | "") => name,
                // An unknown field's path already ends with it; a missing one's does not.
                (Some(name), p) if p == name || p.ends_with(&format!(".{name}")) => p.to_string(),
                (Some(name), p) => format!("{p}.{name}"),
                (None, "." | "") => "body".to_string(),
                (None, p) => p.to_string(),
            };
            // The position serde appends ("at line 1 column 9") means little to a client.
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m)
                .to_string();
            ApiError::invalid(&field, message)
        }
    }
}

/// The documents of a `POST /documents` body, checked; at most `max_documents`.
pub fn parse_documents(bytes: &[u8], max_documents: usize) -> Result<Vec<Document>, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ApiError::invalid_json(
            "body",
            format!(
                "the body is not UTF-8 (invalid byte at {})",
                e.valid_up_to()
            ),
        )
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.trim_start();
    let values: Vec<(Value, String)> = if trimmed.starts_with('[') {
        let array: Vec<Value> = serde_json::from_str(trimmed)
            .map_err(|e| ApiError::invalid_json("body", format!("malformed JSON array: {e}")))?;
        array
            .into_iter()
            .enumerate()
            .map(|(i, v)| (v, format!("document {}", i + 1)))
            .collect()
    } else {
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(line).map_err(|e| {
                ApiError::invalid_json(
                    &format!("documents[{}]", out.len()),
                    format!("line {}: malformed JSON: {e}", n + 1),
                )
            })?;
            out.push((value, format!("line {}", n + 1)));
        }
        out
    };
    if values.is_empty() {
        return Err(ApiError::invalid(
            "body",
            "no documents: send JSON lines of {\"_id\", \"title\", \"text\"} or a JSON array of them",
        ));
    }
    if values.len() > max_documents {
        return Err(ApiError::too_large(format!(
            "{} documents in one request; the server takes at most {max_documents} (--max-documents)",
            values.len()
        )));
    }
    let mut docs = Vec::with_capacity(values.len());
    let mut first: HashMap<String, usize> = HashMap::new();
    for (i, (value, place)) in values.into_iter().enumerate() {
        let doc = document(value, i, &place)?;
        if let Some(&j) = first.get(&doc.id) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "duplicate_id",
                Some(&format!("documents[{i}]._id")),
                format!(
                    "{place}: document id `{}` appears twice in the body (also document {}); nothing was added",
                    doc.id,
                    j + 1
                ),
            ));
        }
        first.insert(doc.id.clone(), i);
        docs.push(doc);
    }
    Ok(docs)
}

fn document(value: Value, i: usize, place: &str) -> Result<Document, ApiError> {
    let field = |name: &str| format!("documents[{i}].{name}");
    let Value::Object(mut obj) = value else {
        return Err(ApiError::invalid(
            &format!("documents[{i}]"),
            format!("{place}: expected a JSON object, found {}", kind(&value)),
        ));
    };
    let id = match obj.remove("_id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(_)) => {
            return Err(ApiError::invalid(
                &field("_id"),
                format!("{place}: `_id` is empty"),
            ))
        }
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                &field("_id"),
                format!("{place}: `_id` is missing"),
            ))
        }
        Some(other) => {
            return Err(ApiError::invalid(
                &field("_id"),
                format!(
                    "{place}: `_id` must be a string or a number, found {}",
                    kind(&other)
                ),
            ))
        }
    };
    let mut string = |name: &str, required: bool| -> Result<String, ApiError> {
        match obj.remove(name) {
            Some(Value::String(s)) => Ok(s),
            None | Some(Value::Null) if !required => Ok(String::new()),
            None | Some(Value::Null) => Err(ApiError::invalid(
                &field(name),
                format!("{place}: `{name}` is missing (or null)"),
            )),
            Some(other) => Err(ApiError::invalid(
                &field(name),
                format!("{place}: `{name}` must be a string, found {}", kind(&other)),
            )),
        }
    };
    let title = string("title", false)?;
    let text = string("text", true)?;
    if text.trim().is_empty() && title.trim().is_empty() {
        return Err(ApiError::invalid(
            &field("text"),
            format!("{place}: `text` is empty (and so is the title)"),
        ));
    }
    Ok(Document { id, title, text })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Up to `max_chars` characters of `text` around the first word that the query also holds
/// (case-insensitive), or its beginning; cut at word boundaries, with `…` where cut.
pub fn snippet(text: &str, query: &str, max_chars: usize) -> String {
    let is_word = |c: char| c.is_alphanumeric();
    let terms: Vec<String> = query
        .split(|c: char| !is_word(c))
        .filter(|w| w.chars().count() >= 3)
        .map(str::to_lowercase)
        .collect();
    // Byte offsets of the words of the text, found without lower-casing the whole text (which
    // can change byte lengths).
    let mut hit = None;
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (is_word(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if terms.iter().any(|t| text[s..i].to_lowercase() == *t) {
                    hit = Some(s);
                    break;
                }
                start = None;
            }
            _ => {}
        }
    }
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    if chars.len() <= max_chars {
        return text.to_string();
    }
    let hit_char = hit.map_or(0, |b| chars.partition_point(|&(i, _)| i < b));
    // A little context before the match.
    let mut from = hit_char.saturating_sub(max_chars / 4);
    let to = (from + max_chars).min(chars.len());
    from = to.saturating_sub(max_chars).min(from);
    // Move inwards to word boundaries.
    let mut a = from;
    if a > 0 {
        while a < to && is_word(chars[a].1) && is_word(chars[a - 1].1) {
            a += 1;
        }
    }
    let mut b = to;
    if b < chars.len() {
        while b > a && is_word(chars[b - 1].1) && is_word(chars[b].1) {
            b -= 1;
        }
    }
    let byte = |c: usize| chars.get(c).map_or(text.len(), |&(i, _)| i);
    let mut out = String::new();
    if a > 0 {
        out.push('…');
    }
    out.push_str(text[byte(a)..byte(b)].trim());
    if b < chars.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_as_json_lines_or_an_array() {
        let lines = b"{\"_id\": \"a\", \"title\": \"T\", \"text\": \"x\"}\n\n{\"_id\": 7, \"text\": \"y\", \"metadata\": {}}\n";
        let docs = parse_documents(lines, 10).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].id, "7");
        assert_eq!(docs[1].title, "");
        let array =
            br#"[{"_id": "a", "text": "x"}, {"_id": "b", "title": "only a title", "text": ""}]"#;
        assert_eq!(parse_documents(array, 10).unwrap().len(), 2);
    }

    #[test]
    fn bad_documents_name_their_field() {
        let field = |body: &[u8]| parse_documents(body, 10).unwrap_err().field.unwrap();
        assert_eq!(
            field(br#"[{"_id": "a", "text": "x"}, {"text": "y"}]"#),
            "documents[1]._id"
        );
        assert_eq!(field(br#"[{"_id": " ", "text": "x"}]"#), "documents[0]._id");
        assert_eq!(field(br#"[{"_id": "a", "text": 3}]"#), "documents[0].text");
        assert_eq!(
            field(br#"[{"_id": "a", "title": "", "text": " "}]"#),
            "documents[0].text"
        );
        assert_eq!(
            field(br#"[{"_id": "a", "title": 1, "text": "x"}]"#),
            "documents[0].title"
        );
        assert_eq!(
            field(b"{\"_id\": \"a\", \"text\": \"x\"}\n{oops\n"),
            "documents[1]"
        );
        assert_eq!(
            field(br#"[{"_id": "a", "text": "x"}, {"_id": "a", "text": "y"}]"#),
            "documents[1]._id"
        );
        assert_eq!(field(b"[1, 2"), "body");
        assert_eq!(field(b"  \n"), "body");
        assert_eq!(field(br#"["a"]"#), "documents[0]");
        let e = parse_documents(
            br#"[{"_id": "a", "text": "x"}, {"_id": "b", "text": "y"}]"#,
            1,
        )
        .unwrap_err();
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        query: String,
        #[serde(default)]
        k: Option<usize>,
    }

    #[test]
    fn json_errors_name_the_field() {
        let field = |body: &str| {
            parse_json::<Probe>(body.as_bytes())
                .unwrap_err()
                .field
                .unwrap()
        };
        assert_eq!(field(r#"{"query": "a", "k": "ten"}"#), "k");
        assert_eq!(field(r#"{"query": "a", "k": -1}"#), "k");
        assert_eq!(field(r#"{"k": 3}"#), "query");
        assert_eq!(field(r#"{"query": "a", "kk": 3}"#), "kk");
        assert_eq!(field(r#"{"query": "a""#), "body");
        assert_eq!(field(r#"{"query": "a"} x"#), "body");
        assert_eq!(field(""), "body");
        let e = parse_json::<Probe>(br#"{"query": "a", "k": "ten"}"#).unwrap_err();
        assert!(!e.message.contains("line 1"), "{}", e.message);
    }

    #[test]
    fn snippets_show_the_query_words() {
        let text = "Alpha beta gamma. ".repeat(20)
            + "The Scurvy finding is here. "
            + &"More words follow. ".repeat(20);
        let s = snippet(&text, "scurvy cure", 80);
        assert!(s.contains("Scurvy"), "{s}");
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.chars().count() <= 82);
        assert_eq!(snippet("short text", "x", 80), "short text");
        let s = snippet(&"é".repeat(300), "nothing", 50);
        assert!(s.chars().count() <= 51);
    }
}
