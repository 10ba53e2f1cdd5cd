//! Paths and inputs shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use genret_report::ReportInputs;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture quickstart run with its dataset: every section has data.
pub fn fixture_inputs() -> ReportInputs {
    ReportInputs::new(fixtures().join("tinyfact-run"))
        .with_beir_dataset(fixtures().join("tinyfact"), "test")
        .expect("the fixture dataset reads")
}

/// The build's target folder (`$CARGO_TARGET_DIR` or `target/`), from the test binary's own
/// path (`<target>/debug/deps/<test>`), so artifacts land where CI collects them.
pub fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// The HTML of each `<section id="...">` of a page, by id, in page order.
pub fn sections(html: &str) -> Vec<(String, String)> {
    html.split("<section id=\"")
        .skip(1)
        .map(|part| {
            let (id, rest) = part.split_once('"').expect("a section id is quoted");
            let body = rest.split("</section>").next().unwrap_or_default();
            (id.to_string(), body.to_string())
        })
        .collect()
}

/// A copy of a fixture folder in a temporary folder, to damage.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
