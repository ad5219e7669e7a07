//! A small W3C WebDriver client for Debian's `chromedriver` driving
//! headless `chromium`: the few commands the console journeys need, every
//! wait explicit and bounded, and every failure reported with the page's
//! URL and HTML.
//!
//! Written here rather than taken from fantoccini or thirtyfour: WebDriver
//! is JSON over HTTP, reqwest is already in the tree, and the commands used
//! fit in one page. chromedriver runs in its own process group so that
//! stopping it (on drop, or from the watchdog) also stops the browser.

use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The element reference key of the W3C protocol.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a wait for an element or a page lasts before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

/// The browser binary: `CUSTOS_CHROMIUM` or Debian's.
fn chromium() -> PathBuf {
    std::env::var_os("CUSTOS_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// The driver binary: `CUSTOS_CHROMEDRIVER` or Debian's.
fn chromedriver() -> PathBuf {
    std::env::var_os("CUSTOS_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"))
}

/// One browser session: chromedriver on a free loopback port, one headless
/// Chromium, screenshots numbered in `artefacts`.
pub struct Browser {
    http: reqwest::blocking::Client,
    session: String,
    base: String,
    artefacts: PathBuf,
    shots: usize,
    // Dropped after the session is closed (fields drop in order after
    // `Drop::drop`), and also if starting the session fails.
    _driver: Driver,
}

/// The chromedriver process; its whole group (the browser too) is killed
/// when this is dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// An element found on the current page.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a headless Chromium; `pids` receives the
    /// driver's process group so a watchdog can stop everything.
    pub fn start(artefacts: &Path, pids: &crate::Pids) -> Browser {
        for (what, path) in [("chromium", chromium()), ("chromedriver", chromedriver())] {
            assert!(
                path.exists(),
                "{what} not found at {}: install Debian's chromium and chromium-driver \
                 (scripts/test does), or set CUSTOS_{}",
                path.display(),
                what.to_uppercase()
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(artefacts.join("chromedriver.log")).unwrap();
        let driver = Driver(
            Command::new(chromedriver())
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdout(Stdio::null())
                .stderr(log)
                .process_group(0)
                .spawn()
                .expect("chromedriver starts"),
        );
        pids.add(driver.0.id());
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = http
                .get(format!("{base}/status"))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready on port {port}; see {}",
                artefacts.join("chromedriver.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--no-first-run",
                    "--disable-dev-shm-usage", "--window-size=1280,1000",
                ],
            },
            "timeouts": {"pageLoad": 30_000, "script": 10_000, "implicit": 0},
        }}});
        let reply: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .and_then(|r| r.json())
            .expect("new WebDriver session");
        let session = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromium did not start: {reply}"))
            .to_string();
        Browser {
            _driver: driver,
            http,
            session,
            base,
            artefacts: artefacts.to_path_buf(),
            shots: 0,
        }
    }

    /// One WebDriver command; its `value`, or the error as text.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self
                .http
                .post(&url)
                .json(&body.unwrap_or_else(|| json!({}))),
        };
        let response = request
            .send()
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let ok = response.status().is_success();
        let reply: Value = response
            .json()
            .map_err(|e| format!("{method} {path}: reply is not JSON: {e}"))?;
        if ok {
            Ok(reply["value"].clone())
        } else {
            Err(format!(
                "{method} {path}: {} {}",
                reply["value"]["error"], reply["value"]["message"]
            ))
        }
    }

    /// A command that must succeed; on failure the test fails with the page.
    fn must(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        match self.call(method, path, body) {
            Ok(v) => v,
            Err(e) => self.fail(&e),
        }
    }

    /// Fails the test with `why`, the current URL and the page's HTML, and
    /// keeps a screenshot of it.
    pub fn fail(&self, why: &str) -> ! {
        let url = self.call("GET", "/url", None).unwrap_or_default();
        let html = self.call("GET", "/source", None).unwrap_or_default();
        let shot = self.artefacts.join("failure.png");
        if let Ok(Value::String(png)) = self.call("GET", "/screenshot", None) {
            let _ = std::fs::write(&shot, decode_base64(&png));
        }
        panic!(
            "{why}\nat {url}\n(screenshot: {})\n--- page HTML ---\n{}",
            shot.display(),
            html.as_str().unwrap_or_default()
        );
    }

    /// Opens `url` and waits for the document to load.
    pub fn goto(&self, url: &str) {
        self.must("POST", "/url", Some(json!({ "url": url })));
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.must("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The page's HTML as the browser holds it now.
    pub fn html(&self) -> String {
        self.must("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Every element matching a CSS selector now (possibly none).
    pub fn all(&self, css: &str) -> Vec<Element> {
        let found = self.must(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        found
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(|s| Element(s.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until `css` matches an element; the first.
    pub fn find(&self, css: &str) -> Element {
        self.wait(&format!("an element matching `{css}`"), || {
            self.all(css).into_iter().next()
        })
    }

    /// Waits until an element matching `css` shows `text` (in its visible
    /// text); that element.
    pub fn find_text(&self, css: &str, text: &str) -> Element {
        self.wait(&format!("`{css}` showing {text:?}"), || {
            self.all(css)
                .into_iter()
                .find(|e| self.text(e).contains(text))
        })
    }

    /// Polls `probe` until it gives something or [`WAIT`] passes.
    pub fn wait<T>(&self, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(found) = probe() {
                return found;
            }
            if Instant::now() > deadline {
                self.fail(&format!("waited {WAIT:?} for {what}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An element's rendered text.
    pub fn text(&self, e: &Element) -> String {
        // A page replaced between finding and reading gives a stale
        // reference: read as empty so the wait goes on.
        self.call("GET", &format!("/element/{}/text", e.0), None)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// An element's attribute as written in the HTML.
    pub fn attribute(&self, e: &Element, name: &str) -> String {
        self.must("GET", &format!("/element/{}/attribute/{name}", e.0), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Clicks an element (a link or a submit button: the navigation it
    /// starts is waited for by the next `find`).
    pub fn click(&self, e: &Element) {
        self.must("POST", &format!("/element/{}/click", e.0), None);
    }

    /// Clears a field and types `text` into it.
    pub fn fill(&self, e: &Element, text: &str) {
        self.must("POST", &format!("/element/{}/clear", e.0), None);
        self.must(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        );
    }

    /// Saves a screenshot of the viewport as `NN-name.png`; its path.
    pub fn screenshot(&mut self, name: &str) -> PathBuf {
        self.shots += 1;
        let png = self.must("GET", "/screenshot", None);
        let bytes = decode_base64(png.as_str().unwrap_or_default());
        assert!(bytes.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        let path = self.artefacts.join(format!("{:02}-{name}.png", self.shots));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Forgets every cookie (a fresh visitor).
    pub fn clear_cookies(&self) {
        self.must("DELETE", "/cookie", None);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing the session stops Chromium; the driver's group goes next.
        let _ = self.call("DELETE", "", None);
    }
}

/// Standard base64 (what WebDriver screenshots are) to bytes.
fn decode_base64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_default()
}
