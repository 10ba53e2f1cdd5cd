//! The fixture's report in a real browser (headless Chromium): the page must load without a
//! console error, without a broken image or an empty plot, with content in every section; a
//! full-page screenshot is kept under the target folder
//! (`<target>/report-screenshot/fixture.png`) for CI to archive.
//!
//! How errors are seen, without DevTools:
//!
//! * A copy of the page gets a small checking script (the report itself has none). It records
//!   `error` events (script errors, and resources that fail to load, in the capture phase),
//!   `console.error` calls and content-security-policy violations (the page forbids fetching
//!   anything, so any fetch is one), and on `load` measures every `<img>` (loaded, non-zero
//!   size), every plot (`<svg>` with drawn elements and a non-zero box unless it sits in a
//!   closed `<details>`), and every section's content. It writes the result as JSON into a
//!   `data-check` attribute of `<body>`, which `chromium --dump-dom` prints.
//! * Chromium runs with `--enable-logging=stderr`, which prints every console message as
//!   `INFO:CONSOLE`; the page has no script, so any such line (a blocked fetch, a parse
//!   warning) is an error. This covers the unmodified page, whose screenshot is taken.
//! * A deliberately broken page goes through the same checks first; if they do not catch its
//!   console error, script error, missing image and empty section, the checker itself is
//!   broken and the test fails rather than passing blind.
//!
//! Without Chromium (`scripts/setup-browser.sh` installs it) the test prints why it is skipped
//! and passes; set `GENRET_REQUIRE_BROWSER=1` (CI) to make a missing browser a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{fixture_inputs, target_dir};
use genret_report::{render, SECTIONS};
use serde_json::Value;

/// The report's security policy, and the same with inline scripts allowed for the checker.
const CSP: &str = "img-src data:\">";
const CSP_WITH_CHECKER: &str = "img-src data:; script-src 'unsafe-inline'\">";

const CHECKER: &str = r#"<script>
(function () {
  var errors = [];
  window.addEventListener('error', function (e) {
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) { errors.push('failed to load ' + (t.src || t.href)); }
    else { errors.push('script error: ' + e.message); }
  }, true);
  var consoleError = console.error;
  console.error = function () {
    errors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    consoleError.apply(console, arguments);
  };
  document.addEventListener('securitypolicyviolation', function (e) {
    errors.push('blocked by the page policy: ' + e.blockedURI + ' (' + e.violatedDirective + ')');
  });
  window.addEventListener('load', function () {
    var all = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };
    var hidden = function (el) { return !!el.closest('details:not([open])'); };
    var brokenImages = all('img').filter(function (i) { return !i.complete || i.naturalWidth === 0; })
      .map(function (i) { return i.src; });
    var emptyPlots = all('svg').filter(function (s) {
      var box = s.getBoundingClientRect();
      return s.querySelectorAll('*').length < 5 || (!hidden(s) && (box.width < 10 || box.height < 10));
    }).length;
    var sections = all('section[id]').map(function (s) {
      return { id: s.id, text: s.innerText.trim().length,
               content: all('table, svg, details, img', s).length,
               absent: all('.absent', s).length };
    });
    document.body.setAttribute('data-check', JSON.stringify({
      errors: errors, images: all('img').length, brokenImages: brokenImages,
      plots: all('svg').length, emptyPlots: emptyPlots, sections: sections,
      height: document.documentElement.scrollHeight
    }));
  });
})();
</script>"#;

fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("GENRET_CHROMIUM") {
        return Some(path.into());
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|candidate| candidate.is_file())
}

/// Runs Chromium headless on a file with `args`; returns (stdout, console lines of stderr).
/// Output goes to files, not pipes: a DOM larger than a pipe's buffer would block the browser
/// while the test waits for it to exit.
fn chromium(browser: &Path, profile: &Path, args: &[String], page: &Path) -> (String, Vec<String>) {
    let stdout_path = page.with_extension("stdout.txt");
    let stderr_path = page.with_extension("stderr.txt");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", browser.display()));
    // A hung browser must not hang the test suite.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} did not finish within 90 s on {}",
                browser.display(),
                page.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(String::from)
        .collect();
    (stdout, console)
}

/// What the checker found on a page.
struct PageCheck {
    problems: Vec<String>,
    height: u64,
    plots: u64,
}

/// Loads `html` (with the checker) in the browser and lists every problem.
fn check_page(browser: &Path, html: &str, dir: &Path, name: &str, required: &[&str]) -> PageCheck {
    assert!(
        html.contains(CSP),
        "the page has no content security policy"
    );
    let instrumented = html.replacen(CSP, CSP_WITH_CHECKER, 1).replacen(
        "<head>",
        &format!("<head>\n{CHECKER}"),
        1,
    );
    let page = dir.join(format!("{name}.checked.html"));
    std::fs::write(&page, instrumented).unwrap();
    let (dom, console) = chromium(browser, &dir.join("profile"), &["--dump-dom".into()], &page);
    std::fs::write(dir.join(format!("{name}.dom.html")), &dom).unwrap();

    let attribute = dom
        .split("data-check=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the checker did not run on {name} (no data-check in the DOM)"));
    let json = attribute
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let check: Value = serde_json::from_str(&json).unwrap();

    let mut problems: Vec<String> = console.iter().map(|l| format!("console: {l}")).collect();
    for e in check["errors"].as_array().unwrap() {
        problems.push(e.as_str().unwrap().to_string());
    }
    for img in check["brokenImages"].as_array().unwrap() {
        problems.push(format!("broken image {img}"));
    }
    let empty_plots = check["emptyPlots"].as_u64().unwrap();
    if empty_plots > 0 {
        problems.push(format!("{empty_plots} empty plots"));
    }
    let sections = check["sections"].as_array().unwrap();
    for id in required {
        match sections.iter().find(|s| s["id"] == *id) {
            None => problems.push(format!("section {id} missing")),
            Some(s) if s["content"].as_u64() == Some(0) || s["absent"].as_u64() != Some(0) => {
                problems.push(format!("section {id} is empty: {s}"))
            }
            Some(_) => {}
        }
    }
    PageCheck {
        problems,
        height: check["height"].as_u64().unwrap_or(0),
        plots: check["plots"].as_u64().unwrap_or(0),
    }
}

#[test]
fn the_fixture_report_renders_cleanly_in_chromium() {
    let Some(browser) = find_chromium() else {
        let why = "no chromium on PATH (run scripts/setup-browser.sh, or set GENRET_CHROMIUM)";
        if std::env::var_os("GENRET_REQUIRE_BROWSER").is_some() {
            panic!("GENRET_REQUIRE_BROWSER is set but the browser check cannot run: {why}");
        }
        // Written to the process's stderr directly: the test harness captures eprintln! of a
        // passing test, and a skip must be seen.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("\nSKIPPED the report's browser check: {why}\n").as_bytes(),
        );
        return;
    };
    let dir = target_dir().join("report-screenshot");
    std::fs::create_dir_all(&dir).unwrap();

    // The checker must see problems where there are some.
    let broken = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; {CSP}\
         </head><body><section id=\"summary\"><h2>Summary</h2><p class=\"absent\">none</p></section>\
         <img src=\"missing.png\"><script>console.error('boom'); notDefined();</script></body></html>"
    );
    let bad = check_page(&browser, &broken, &dir, "broken", &["summary", "training"]);
    let found = bad.problems.join("\n");
    for expected in [
        "boom",
        "notDefined",
        "missing.png",
        "section summary is empty",
        "section training missing",
    ] {
        assert!(
            found.contains(expected),
            "the checker missed `{expected}` on a broken page; it found:\n{found}"
        );
    }

    // The fixture's report: every section required (the fixture has data for all).
    let html = render(&fixture_inputs()).unwrap();
    let page = dir.join("fixture.html");
    std::fs::write(&page, &html).unwrap();
    let required: Vec<&str> = SECTIONS.iter().map(|(id, _)| *id).collect();
    let check = check_page(&browser, &html, &dir, "fixture", &required);
    assert!(
        check.problems.is_empty(),
        "the report has problems in Chromium:\n{}",
        check.problems.join("\n")
    );
    assert_eq!(
        check.plots as usize,
        html.matches("<svg").count(),
        "every plot of the page is in the browser's DOM"
    );

    // The screenshot, of the page as shipped (no checker), full height.
    let screenshot = dir.join("fixture.png");
    let _ = std::fs::remove_file(&screenshot);
    let height = check.height.clamp(800, 16_000);
    let (_, console) = chromium(
        &browser,
        &dir.join("profile"),
        &[
            format!("--screenshot={}", screenshot.display()),
            format!("--window-size=1280,{height}"),
        ],
        &page,
    );
    assert!(
        console.is_empty(),
        "console messages on the report:\n{}",
        console.join("\n")
    );
    let png = std::fs::read(&screenshot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", screenshot.display()));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot is not a real page"
    );
    eprintln!(
        "screenshot: {} ({} bytes, 1280x{height})",
        screenshot.display(),
        png.len()
    );
}
