//! Shared set-up of the HTTP tests: a tiny random index served on 127.0.0.1 (an ephemeral
//! port), a blocking client (ureq, independent of the server's own code), and a validator that
//! checks a response against the schema `/openapi.json` declares for it.

#![allow(dead_code)]

use std::path::PathBuf;

use genret_index::testing::{tiny_index, write_word_tokenizer, ScratchDir};
use genret_serve::{Args, Running};
use serde_json::Value;

pub struct TestServer {
    pub running: Running,
    pub index_dir: PathBuf,
    pub dir: ScratchDir,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.url())
    }
}

/// A tiny index of `n` documents (`t0` ..), served with BM25 and (when `dense`) a tiny random
/// dense encoder; `tweak` adjusts the arguments.
pub fn serve(n: usize, dense: bool, tweak: impl FnOnce(&mut Args)) -> TestServer {
    let dir = ScratchDir::new("serve").unwrap();
    let (index, index_dir) = tiny_index(dir.path(), "idx", n).unwrap();
    drop(index);
    let mut args = Args::for_index(index_dir.clone());
    args.addr = "127.0.0.1:0".parse().unwrap();
    args.bm25 = true;
    if dense {
        let tokenizer = dir.path().join("words.json");
        write_word_tokenizer(&tokenizer).unwrap();
        let bert = genret_model::genret::tiny_bert_config(64);
        let ckpt = genret_model::checkpoint::write_random_bert(
            &dir.path().join("dense-model"),
            &bert,
            &tokenizer,
            5,
        )
        .unwrap();
        args.dense = true;
        args.dense_model = Some(ckpt.spec);
        args.dense_max_len = 32;
        args.dense_cache = Some(dir.path().join("dense-cache"));
    }
    tweak(&mut args);
    let running = genret_serve::start(args).unwrap();
    TestServer {
        running,
        index_dir,
        dir,
    }
}

/// Status, content type and body of a request (non-2xx answers included).
pub fn call(method: &str, url: &str, body: Option<&str>) -> (u16, String, String) {
    let request = ureq::request(method, url).timeout(std::time::Duration::from_secs(60));
    let result = match body {
        Some(b) => request
            .set("content-type", "application/json")
            .send_string(b),
        None => request.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = response.status();
    let ctype = response.content_type().to_string();
    let text = response.into_string().unwrap();
    (status, ctype, text)
}

/// The JSON of a request's answer, with its status.
pub fn call_json(method: &str, url: &str, body: Option<&str>) -> (u16, Value) {
    let (status, ctype, text) = call(method, url, body);
    assert_eq!(ctype, "application/json", "{method} {url}: {status} {text}");
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {url}: answer is not JSON ({e}): {text}"));
    (status, value)
}

/// Checks `value` against the schema the OpenAPI document gives the answer of `method
/// path_template` with `status`; panics naming the first difference.
pub fn check_against_spec(
    spec: &Value,
    method: &str,
    path_template: &str,
    status: u16,
    value: &Value,
) {
    let op = &spec["paths"][path_template][method.to_lowercase()];
    assert!(
        op.is_object(),
        "the OpenAPI document has no {method} {path_template}"
    );
    let response = &op["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path_template} answered {status}, which the OpenAPI document does not list: {value}"
    );
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path_template} {status}: no JSON schema documented"
    );
    if let Err(e) = validate(spec, schema, value, "$") {
        panic!("{method} {path_template} {status}: the answer does not match the OpenAPI schema: {e}\nanswer: {value}");
    }
}

/// A JSON-schema validator for what utoipa writes (OpenAPI 3.1): `$ref`, `type` (one or a
/// list), `properties` with `required`, `items`, `oneOf`/`anyOf`/`allOf`, `enum`, `minimum`,
/// `maximum` and `pattern` (anchored alternatives only). Strict where utoipa is silent: a
/// property the schema does not declare is an error, so an undocumented field is caught.
pub fn validate(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap();
        let target = &spec["components"]["schemas"][name];
        if target.is_null() {
            return Err(format!("{at}: unknown schema {r}"));
        }
        return validate(spec, target, value, at);
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            validate(spec, s, value, at)?;
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(any) = schema.get(key).and_then(Value::as_array) {
            let ok = any
                .iter()
                .filter(|s| validate(spec, s, value, at).is_ok())
                .count();
            let fits = if key == "oneOf" { ok == 1 } else { ok >= 1 };
            if !fits {
                return Err(format!(
                    "{at}: {value} matches {ok} of the {key} alternatives"
                ));
            }
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{at}: odd type {t}")),
        };
        let fits = types.iter().any(|t| match *t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        });
        if !fits {
            return Err(format!("{at}: {value} is not of type {t}"));
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(value) {
            return Err(format!("{at}: {value} is not one of {e:?}"));
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            if n < min {
                return Err(format!("{at}: {n} < minimum {min}"));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            if n > max {
                return Err(format!("{at}: {n} > maximum {max}"));
            }
        }
    }
    if let (Some(p), Some(s)) = (
        schema.get("pattern").and_then(Value::as_str),
        value.as_str(),
    ) {
        let alternatives = p.trim_start_matches("^(").trim_end_matches(")$");
        if !alternatives.split('|').any(|a| a == s) {
            return Err(format!("{at}: `{s}` does not match {p}"));
        }
    }
    if let Value::Object(obj) = value {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(props) = props {
            for r in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = r.as_str().unwrap();
                if !obj.contains_key(name) {
                    return Err(format!("{at}: required field `{name}` is missing"));
                }
            }
            for (k, v) in obj {
                match props.get(k) {
                    Some(s) => validate(spec, s, v, &format!("{at}.{k}"))?,
                    None => return Err(format!("{at}: field `{k}` is not documented")),
                }
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (value, schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            validate(spec, s, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}
