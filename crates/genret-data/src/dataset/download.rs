//! Fetching a BEIR archive into the cache: download (with progress), check, unpack into a
//! staging folder and rename into place, so the cache never holds half a dataset.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::catalogue::KnownDataset;
use super::{has_corpus, ResolveOptions};
use crate::error::{DataError, Location, Result};

/// Why a download failed: the network (the caller turns this into the "two ways out" message),
/// or the data (a broken archive, a full disk), reported as is.
pub(super) enum DownloadError {
    Network(String),
    Data(DataError),
}

impl From<DataError> for DownloadError {
    fn from(e: DataError) -> Self {
        DownloadError::Data(e)
    }
}

/// Removes a staging folder however the download ends.
struct StagingDir(PathBuf);

impl Drop for StagingDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn is_local_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', ':']).next().unwrap_or("");
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// Fetches `{url}` into a staging folder under the cache, checks and unpacks it, and renames
/// the dataset folder into `{datasets}/{entry.name}`.
pub(super) fn download_archive(
    entry: &KnownDataset,
    url: &str,
    opts: &ResolveOptions,
) -> Result<(), DownloadError> {
    let datasets = opts.datasets_dir();
    let target = datasets.join(entry.name);
    std::fs::create_dir_all(&datasets).map_err(|e| DataError::io(Location::file(&datasets), e))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let staging = StagingDir(datasets.join(format!(
        ".download-{}-{}-{nanos}",
        entry.name,
        std::process::id()
    )));
    std::fs::create_dir_all(&staging.0)
        .map_err(|e| DataError::io(Location::file(&staging.0), e))?;

    let zip_path = staging.0.join(format!("{}.zip", entry.name));
    tracing::info!(
        "downloading dataset `{}` ({}) from {url}",
        entry.name,
        entry.approx_size
    );
    fetch(url, &zip_path, opts.progress)?;

    let unpacked = staging.0.join("unpacked");
    unpack_zip(&zip_path, &unpacked, url)?;
    let _ = std::fs::remove_file(&zip_path);

    let top = dataset_folder(&unpacked, entry.name).ok_or_else(|| {
        DataError::Dataset(format!(
            "{url}: the archive holds neither a `{}/` folder nor a corpus.jsonl at its top",
            entry.name
        ))
    })?;
    if let Err(e) = std::fs::rename(&top, &target) {
        // Another process may have finished the same download first.
        if !target.is_dir() {
            return Err(DataError::io(Location::file(&target), e).into());
        }
    }
    tracing::info!("dataset `{}` is in {}", entry.name, target.display());
    Ok(())
}

/// The folder inside an unpacked archive that is the dataset: `{name}/`, else the only folder at
/// the top (ignoring `__MACOSX`), else the top itself when it holds the files.
fn dataset_folder(unpacked: &Path, name: &str) -> Option<PathBuf> {
    let named = unpacked.join(name);
    if named.is_dir() {
        return Some(named);
    }
    let dirs: Vec<PathBuf> = std::fs::read_dir(unpacked)
        .ok()?
        .flatten()
        .filter(|e| e.file_name() != "__MACOSX" && e.path().is_dir())
        .map(|e| e.path())
        .collect();
    if has_corpus(unpacked) || unpacked.join("queries.jsonl").is_file() {
        return Some(unpacked.to_path_buf());
    }
    match dirs.as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    }
}

fn fetch(url: &str, dest: &Path, progress: bool) -> Result<(), DownloadError> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(20))
        .timeout_read(Duration::from_secs(60))
        .user_agent(concat!("genret/", env!("CARGO_PKG_VERSION")))
        .try_proxy_from_env(!is_local_url(url))
        .build();
    let response = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            return Err(DownloadError::Network(format!(
                "the server answered HTTP {code} {}",
                r.status_text()
            )))
        }
        Err(ureq::Error::Transport(t)) => {
            // Transport's Display repeats the URL, which the caller's message already names.
            let mut msg = match t.message() {
                Some(m) => format!("{}: {m}", t.kind()),
                None => t.kind().to_string(),
            };
            if let Some(source) = std::error::Error::source(&t) {
                msg = format!("{msg}: {source}");
            }
            return Err(DownloadError::Network(msg));
        }
    };
    let expected: Option<u64> = response
        .header("Content-Length")
        .and_then(|v| v.trim().parse().ok());
    let bar = if progress {
        let bar = indicatif::ProgressBar::with_draw_target(
            expected,
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(format!(
            "downloading {}",
            dest.file_name().unwrap_or_default().to_string_lossy()
        ));
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };

    let loc = Location::file(dest);
    let mut out = File::create(dest).map_err(|e| DataError::io(loc.clone(), e))?;
    let mut reader = response.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut total: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                bar.abandon();
                return Err(DownloadError::Network(format!(
                    "the download broke off after {total} bytes: {e}"
                )));
            }
        };
        out.write_all(&buf[..n])
            .map_err(|e| DataError::io(loc.clone(), e))?;
        total += n as u64;
        bar.set_position(total);
    }
    out.sync_all().map_err(|e| DataError::io(loc.clone(), e))?;
    bar.finish_and_clear();
    if let Some(n) = expected {
        if n != total {
            return Err(DownloadError::Network(format!(
                "the download broke off: got {total} of {n} bytes"
            )));
        }
    }
    Ok(())
}

/// Checks that `zip_path` is a whole zip archive and unpacks it into `dest`, refusing entries
/// that would land outside `dest`. Every entry's CRC is checked as it is read.
fn unpack_zip(zip_path: &Path, dest: &Path, url: &str) -> Result<()> {
    let loc = Location::file(zip_path);
    let mut magic = [0u8; 4];
    let mut file = File::open(zip_path).map_err(|e| DataError::io(loc.clone(), e))?;
    let got = file
        .read(&mut magic)
        .map_err(|e| DataError::io(loc.clone(), e))?;
    if got < 4 || &magic != b"PK\x03\x04" {
        return Err(DataError::format(
            loc,
            format!("what {url} sent is not a zip archive (a proxy's or server's error page?)"),
        ));
    }
    let mut archive = zip::ZipArchive::new(file).map_err(|e| {
        DataError::format(
            loc.clone(),
            format!("{url}: broken or cut-short zip archive: {e}"),
        )
    })?;
    std::fs::create_dir_all(dest).map_err(|e| DataError::io(Location::file(dest), e))?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| {
            DataError::format(loc.clone(), format!("{url}: broken zip entry #{i}: {e}"))
        })?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(DataError::format(
                loc,
                format!(
                    "{url}: zip entry `{}` points outside the archive's folder",
                    entry.name()
                ),
            ));
        };
        let out_path = dest.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&out_path)
                .map_err(|e| DataError::io(Location::file(&out_path), e))?;
            continue;
        }
        if let Some(parent) = out_path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| DataError::io(Location::file(parent), e))?;
        }
        let mut out =
            File::create(&out_path).map_err(|e| DataError::io(Location::file(&out_path), e))?;
        let name = entry.name().to_string();
        std::io::copy(&mut entry, &mut out).map_err(|e| {
            DataError::format(
                loc.clone(),
                format!("{url}: zip entry `{name}` is broken or cut short: {e}"),
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::BEIR_BASE_URL;

    #[test]
    fn local_urls() {
        assert!(is_local_url("http://127.0.0.1:8080/x"));
        assert!(is_local_url("http://localhost/x"));
        assert!(!is_local_url(BEIR_BASE_URL));
    }
}
